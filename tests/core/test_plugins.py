"""The plugin manager loads entry points of the `tokenizer_bench` group like the built-ins."""

import textwrap

import pytest

from tokenizer_bench.core import plugins
from tokenizer_bench.core.errors import DuplicateComponentError, TokenizerBenchError


def make_distribution(root, dist, module, body):
    """A minimal installed distribution (dist-info with an entry point) on ``root``."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tokenizer_bench]\nmain = {module}\n")


PLUGIN = """
from tokenizer_bench import hookimpl

class Thing:
    '''A thing from a third-party package.'''
    def __init__(self, n: int = 1):
        self.n = n

@hookimpl
def register_metrics(register):
    register("third_party_thing", Thing)
"""


@pytest.fixture
def fresh_plugins(monkeypatch):
    plugins.reset()
    yield monkeypatch
    plugins.reset()


def test_entry_point_plugin_is_loaded_with_its_source(tmp_path, fresh_plugins):
    make_distribution(tmp_path, "acme-tb-plugin", "acme_tb_plugin", PLUGIN)
    fresh_plugins.syspath_prepend(str(tmp_path))
    entry = plugins.get_registry("metrics").get("third_party_thing")
    assert entry.source == "acme-tb-plugin"
    assert entry.description == "A thing from a third-party package."
    assert plugins.get_registry("metrics").build("third_party_thing", n=4).n == 4


def test_environment_variable_restricts_external_plugins(tmp_path, fresh_plugins):
    make_distribution(tmp_path, "acme-tb-plugin", "acme_tb_plugin", PLUGIN)
    fresh_plugins.syspath_prepend(str(tmp_path))
    fresh_plugins.setenv(plugins.PLUGINS_ENV, "some-other-dist")
    assert "third_party_thing" not in plugins.get_registry("metrics")
    plugins.reset()
    fresh_plugins.setenv(plugins.PLUGINS_ENV, "acme-tb-plugin")
    assert "third_party_thing" in plugins.get_registry("metrics")


def test_duplicate_name_across_distributions_names_both(tmp_path, fresh_plugins):
    make_distribution(tmp_path, "acme-one", "acme_one", PLUGIN)
    make_distribution(tmp_path, "acme-two", "acme_two", PLUGIN)
    fresh_plugins.syspath_prepend(str(tmp_path))
    with pytest.raises(DuplicateComponentError) as info:
        plugins.registries()
    assert "acme-one" in str(info.value) and "acme-two" in str(info.value)


def test_broken_plugin_names_its_distribution(tmp_path, fresh_plugins):
    make_distribution(tmp_path, "acme-broken", "acme_broken", "raise ImportError('no numpy here')\n")
    fresh_plugins.syspath_prepend(str(tmp_path))
    with pytest.raises(TokenizerBenchError, match="acme-broken.*no numpy here"):
        plugins.registries()


def test_runtime_registration_of_a_plugin_object(fresh_plugins):
    from tokenizer_bench import hookimpl

    class Local:
        @hookimpl
        def register_losses(self, register):
            register("local_loss", lambda scale=1.0: scale)

    obj = Local()
    plugins.register_plugin(obj, name="local-test")
    try:
        entry = plugins.get_registry("losses").get("local_loss")
        assert entry.source == "local-test"
    finally:
        plugins.unregister_plugin(obj)
    assert "local_loss" not in plugins.get_registry("losses")

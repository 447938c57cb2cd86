"""Config composition, overrides and error messages (file + key path + allowed values)."""

import textwrap
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from tokenizer_bench import hookimpl
from tokenizer_bench.core import plugins
from tokenizer_bench.core.config import Component, load_config, registered, resolve_config
from tokenizer_bench.core.errors import ConfigError


class Quant:
    """Test quantizer."""

    def __init__(self, n_q: int = 8, codebook_size: int = 1024):
        self.n_q, self.codebook_size = n_q, codebook_size


class OtherQuant:
    def __init__(self, levels: tuple = (3, 3)):
        self.levels = levels


class _Plugin:
    @hookimpl
    def register_quantizers(self, register):
        register("test_rvq", Quant)
        register("test_other", OtherQuant)


class Trainer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_steps: int = 10
    precision: Literal["no", "bf16", "fp16"] = "no"


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    quantizer: Annotated[Component, registered("quantizers")]
    trainer: Trainer = Trainer()


@pytest.fixture(autouse=True)
def test_plugin():
    plugin = _Plugin()
    plugins.register_plugin(plugin, name="config-test")
    yield
    plugins.unregister_plugin(plugin)


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_extends_merges_and_overrides(tmp_path):
    write(tmp_path / "base.yaml", """
        name: base
        quantizer: {name: test_rvq, n_q: 8, codebook_size: 1024}
        trainer: {max_steps: 100}
    """)
    ablation = write(tmp_path / "ablation.yaml", """
        extends: base.yaml
        name: ablation
        quantizer: {n_q: 4}
    """)
    cfg = load_config(ablation, Schema, ["trainer.max_steps=7", "trainer.precision=bf16"])
    assert cfg.name == "ablation"
    assert cfg.quantizer.kwargs == {"n_q": 4, "codebook_size": 1024}
    assert (cfg.trainer.max_steps, cfg.trainer.precision) == (7, "bf16")
    assert cfg.quantizer.build("quantizers").n_q == 4


def test_changing_component_name_replaces_its_arguments(tmp_path):
    write(tmp_path / "base.yaml", "name: b\nquantizer: {name: test_rvq, n_q: 8}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nquantizer: {name: test_other, levels: [5, 5]}\n")
    cfg = load_config(child, Schema)
    assert cfg.quantizer.name == "test_other" and cfg.quantizer.kwargs == {"levels": [5, 5]}


def test_invalid_value_names_the_file_that_set_it(tmp_path):
    base = write(tmp_path / "base.yaml", "name: b\nquantizer: {name: test_rvq}\ntrainer: {precision: fp8}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nname: c\n")
    with pytest.raises(ConfigError) as info:
        load_config(child, Schema)
    msg = str(info.value)
    assert f"{base.resolve()}: trainer.precision" in msg
    assert "'no', 'bf16' or 'fp16'" in msg


def test_unknown_key_lists_allowed_keys(tmp_path):
    cfg = write(tmp_path / "c.yaml", "name: b\nquantizer: {name: test_rvq}\ntrainer: {max_stepz: 3}\n")
    with pytest.raises(ConfigError, match=r"trainer.max_stepz: unknown key; allowed keys here: max_steps, precision"):
        load_config(cfg, Schema)


def test_unknown_component_lists_registered_names(tmp_path):
    cfg = write(tmp_path / "c.yaml", "name: b\nquantizer: {name: test_rqv}\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg, Schema)
    msg = str(info.value)
    assert "quantizer" in msg and "'test_rqv'" in msg and "test_other" in msg and "test_rvq" in msg


def test_unknown_component_argument(tmp_path):
    cfg = write(tmp_path / "c.yaml", "name: b\nquantizer: {name: test_rvq, n_qq: 3}\n")
    with pytest.raises(ConfigError, match=r"quantizer: .*unknown argument\(s\) n_qq.*codebook_size, n_q"):
        load_config(cfg, Schema)


def test_malformed_yaml_points_at_line(tmp_path):
    cfg = write(tmp_path / "bad.yaml", "name: b\nquantizer: {name: test_rvq\ntrainer: 1\n")
    with pytest.raises(ConfigError, match=rf"{cfg}:\d+:\d+: malformed YAML"):
        load_config(cfg, Schema)


def test_circular_extends(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        load_config(tmp_path / "a.yaml", Schema)


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="KEY.PATH=VALUE"):
        from tokenizer_bench.core.config import parse_override

        parse_override("trainer.max_steps")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a.b=1", ("a.b", 1)),  # the key is kept whole; --set splits it into a path
        ("x=[1,2]", ("x", [1, 2])),
        ("s=some text", ("s", "some text")),
        ("k=", ("k", None)),  # as 'k:' in a YAML file
        (" lr = 1e-3", ("lr", 0.001)),  # exponent without a dot is a float (PyYAML alone: the text '1e-3')
        ("lr=2.5E+2", ("lr", 250.0)),
        ("flag=true", ("flag", True)),
        ("lang='no'", ("lang", "no")),  # quoted: text, not YAML 1.1's false
        ("url=http://h/a=b", ("url", "http://h/a=b")),  # split at the first '='
        ("m={a: 1}", ("m", {"a": 1})),
        ("v=1e-3x", ("v", "1e-3x")),
    ],
)
def test_key_value_reads_values_as_yaml(text, expected):
    from tokenizer_bench.core.config import parse_key_value

    assert parse_key_value(text, "--option") == expected


def test_key_value_errors_name_the_flag_and_argument():
    from tokenizer_bench.core.config import parse_key_value, parse_key_values, parse_override

    with pytest.raises(ConfigError, match=r"^--option 'bandwidth': expected KEY=VALUE \(e.g. key=value\)$"):
        parse_key_value("bandwidth", "--option")
    with pytest.raises(ConfigError, match=r"^--metric-option '=3': empty key before '='"):
        parse_key_value("=3", "--metric-option")
    with pytest.raises(ConfigError, match=r"^--set 'x=\[1, 2': the value is not valid YAML .*x='...'$"):
        parse_override("x=[1, 2")
    with pytest.raises(ConfigError, match=r"^--set '\.\.=1': empty key$"):
        parse_override("..=1")
    assert parse_override("trainer.max_steps=50") == (["trainer", "max_steps"], 50)
    assert parse_key_values(["a=1", "b=x", "a=2"], "--option") == {"a": 2, "b": "x"}


def test_missing_config_lists_packaged_ones(tmp_path):
    with pytest.raises(ConfigError, match="not found as a file or a packaged config"):
        resolve_config(tmp_path / "nope.yaml")

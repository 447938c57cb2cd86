"""The CLI as a user meets it: a fresh process, one-screen errors, exit codes."""

import json
import subprocess
import sys
import textwrap

import pytest

BASE = """
name: t
model:
  tokenizer: dm_codec
  encoder: {name: seanet_encoder, n_filters: 4, dimension: 8, strides: [2, 2]}
  quantizer: {name: rvq, dimension: 8, n_q: 2, codebook_size: 16}
  decoder: {name: seanet_decoder, n_filters: 4, dimension: 8, strides: [2, 2]}
data: {train: [some/folder]}
"""


def cli(*args, env=None):
    code = "from tokenizer_bench.core.cli.app import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_plugins_json_lists_every_kind():
    out = cli("plugins", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"encoders", "quantizers", "teachers", "discriminators", "losses", "tokenizers", "metrics"}


@pytest.mark.parametrize(
    "body, expected",
    [
        (BASE.replace("name: rvq", "name: rvqq"), ["model.quantizer", "'rvqq'", "Available:", "rvq"]),
        (BASE + "trainer: {mixed_precision: fp8}\n", ["trainer.mixed_precision", "'no', 'bf16' or 'fp16'"]),
        (BASE + "trainer: {max_steps: [\n", ["malformed YAML"]),
        (BASE + "trainer: {max_stepz: 5}\n", ["trainer.max_stepz: unknown key", "max_steps"]),
    ],
    ids=["unknown-plugin", "invalid-value", "malformed-yaml", "unknown-key"],
)
def test_config_errors_are_one_screen_without_traceback(tmp_path, body, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(textwrap.dedent(body))
    out = cli("show-config", str(cfg))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert str(cfg) in out.stderr
    for piece in expected:
        assert piece in out.stderr, out.stderr
    assert len(out.stderr.splitlines()) < 25


def test_debug_flag_shows_traceback(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BASE + "trainer: {mixed_precision: fp8}\n")
    out = cli("--debug", "show-config", str(cfg))
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_set_override_and_valid_config_round_trip(tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(textwrap.dedent(BASE))
    out = cli("show-config", str(cfg), "--set", "trainer.max_steps=3", "--set", "model.quantizer.n_q=1")
    assert out.returncode == 0, out.stderr
    assert "max_steps: 3" in out.stdout and "n_q: 1" in out.stdout

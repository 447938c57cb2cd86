"""Presets: the shipped table documents its sources; a preset checks its models and metrics before any
work, fails naming what to download, or with --allow-stand-ins substitutes and records that."""

from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tokenizer_bench.benchmarks.harness.cli import add_commands
from tokenizer_bench.benchmarks.harness.presets import PRESETS_ENV, load_presets, resolve_preset
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError

TABLE = {
    "toy": {
        "source": "a test protocol", "num_samples": 3, "seed": 7, "asr": "big_asr", "asr_options": {"model": "org/big"},
        "metrics": ["stoi", "big_mos"], "aggregation": "common", "correction": "holm",
        "requires": [{"id": "org/big", "for": "asr", "what": "the big ASR"}],
        "stand_ins": {"asr": {"asr": "fake_asr", "asr_options": {}, "note": "ASR: fake instead of org/big"},
                      "big_mos": {"metric": "si_sdr", "options": {}, "note": "MOS: SI-SDR instead of big_mos"}},
    }
}


def _checks(missing_metrics=("big_mos",)):
    return dict(table=TABLE, model_check=lambda mid: False, hub_reachable=lambda: False,
                metric_check=lambda m, o: f"metric {m!r} is not registered" if m in missing_metrics else None)


def test_shipped_presets_document_their_protocols():
    table = load_presets()
    assert {"dmcodec", "xcodec2"} <= set(table)
    dm = table["dmcodec"]
    assert (dm["num_samples"], dm["seed"], dm["correction"], dm["aggregation"]) == (300, 42, "none", "common")
    assert dm["asr_options"]["model"] == "openai/whisper-medium"
    assert set(dm["metrics"]) >= {"wer", "wil", "visqol", "stoi"}
    xc = table["xcodec2"]
    assert xc["asr_options"]["model"] == "facebook/hubert-large-ls960-ft"
    assert set(xc["metrics"]) >= {"wer", "speaker_similarity", "utmos", "pesq_nb", "pesq", "stoi"}
    assert "test-clean" in xc["data"] and "Llasa" in xc["source"]


def test_missing_model_fails_before_work_naming_the_download():
    with pytest.raises(MissingDependencyError) as exc:
        resolve_preset("toy", {}, **_checks())
    msg = str(exc.value)
    assert "hf download org/big" in msg and "big_mos" in msg and "--allow-stand-ins" in msg


def test_stand_ins_are_used_only_when_allowed_and_recorded():
    r = resolve_preset("toy", {"seed": 1}, allow_stand_ins=True, **_checks())
    assert r.values["asr"] == "fake_asr" and r.values["asr_options"] == {}
    assert r.values["metrics"] == ["stoi", "si_sdr"] and r.values["seed"] == 1 and r.values["num_samples"] == 3
    assert r.record["stand_ins"] == {"asr": "ASR: fake instead of org/big", "big_mos": "MOS: SI-SDR instead of big_mos"}
    assert r.overrides == ["seed"]
    # a missing piece without a stand-in still stops the run, even with the flag
    with pytest.raises(MissingDependencyError, match="stoi"):
        resolve_preset("toy", {}, allow_stand_ins=True, **_checks(missing_metrics=("stoi",)))
    # a model the cache holds needs no stand-in
    ok = resolve_preset("toy", {}, table=TABLE, model_check=lambda mid: True, hub_reachable=lambda: False,
                        metric_check=lambda m, o: None)
    assert ok.values["asr"] == "big_asr" and ok.stand_ins == {}
    with pytest.raises(ConfigError, match="toy"):
        resolve_preset("nope", {}, **_checks())
    # another ASR on the command line: the preset's model requirement and options do not apply to it
    mine = resolve_preset("toy", {"asr": "fake_asr"}, **_checks(missing_metrics=()))
    assert mine.values["asr"] == "fake_asr" and mine.values["asr_options"] == {} and mine.overrides == ["asr"]


def test_cli_preset_records_stand_ins_in_run_and_report(fake_plugins, speech_set, tmp_path, monkeypatch):
    table = {"toy": dict(TABLE["toy"], asr_options={"model": str(tmp_path / "no_such_model")},
                         requires=[{"id": str(tmp_path / "no_such_model"), "for": "asr", "what": "the big ASR"}],
                         metrics=["stoi", "wer"])}
    path = tmp_path / "presets.yaml"
    path.write_text(yaml.safe_dump(table))
    monkeypatch.setenv(PRESETS_ENV, str(path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app = typer.Typer()
    add_commands(app)
    app.callback()(lambda: None)
    out = tmp_path / "run"
    args = ["compare", "--preset", "toy", "--tokenizers", "identity", "--data", str(speech_set), "--out", str(out),
            "--no-plots", "--aso-iterations", "20"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "no_such_model" in str(result.exception)
    assert isinstance(result.exception, MissingDependencyError) and "--allow-stand-ins" in str(result.exception)
    assert not (out / "records.jsonl").exists()
    result = CliRunner().invoke(app, args + ["--allow-stand-ins"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = json.loads((out / "run.json").read_text())
    assert run["preset"]["name"] == "toy" and run["preset"]["stand_ins"] == {"asr": "ASR: fake instead of org/big"}
    assert run["config"]["num_samples"] == 3 and run["config"]["seed"] == 7
    assert run["significance"]["correction"] == "holm"
    assert run["asr"]["backend"] == "fake_asr"
    html = (out / "report.html").read_text()
    assert "OFFLINE STAND-INS used (--allow-stand-ins): asr → ASR: fake instead of org/big" in html

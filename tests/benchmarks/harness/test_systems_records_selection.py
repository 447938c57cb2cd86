"""System specs, the record store and metric selection."""

from __future__ import annotations

import json

import pytest

from tokenizer_bench.benchmarks.harness.records import RecordStore
from tokenizer_bench.benchmarks.harness.selection import parse_options, select_metrics
from tokenizer_bench.benchmarks.harness.systems import SystemSpec, labels_for, load_systems, parse_systems
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError, UnknownComponentError


def test_system_syntax():
    specs = parse_systems("dm_codec:runs/a,identity", "encodec,facodec:/ckpt/fa", ["encodec=/ckpt/enc"])
    assert specs == [SystemSpec("encodec", "/ckpt/enc", True), SystemSpec("facodec", "/ckpt/fa", True),
                     SystemSpec("dm_codec", "runs/a"), SystemSpec("identity")]
    assert parse_systems("x:C:/win/path", None) == [SystemSpec("x", "C:/win/path")]  # split at the first ':'
    with pytest.raises(ConfigError, match="both inline"):
        parse_systems(None, "encodec:/a", ["encodec=/b"])
    with pytest.raises(ConfigError, match="not among --baselines"):
        parse_systems("a", None, ["encodec=/b"])
    with pytest.raises(ConfigError, match="nothing to compare"):
        parse_systems(None, " ")
    with pytest.raises(ConfigError, match="listed twice"):
        parse_systems("a,a", None)
    assert labels_for([SystemSpec("d", "runs/x"), SystemSpec("d", "runs/y")]) == ["d (x)", "d (y)"]


def test_load_systems_checks_names_and_n_q():
    with pytest.raises(UnknownComponentError, match="identty"):
        load_systems([SystemSpec("identty")])
    with pytest.raises(ConfigError, match="--n-q 4"):
        load_systems([SystemSpec("identity")], n_q=4)
    (s,) = load_systems([SystemSpec("identity")])
    assert s.info["bitrate"] == 256000.0 and not s.ranked  # identity is a sanity row


def test_record_store_appends_durably_and_survives_a_cut_line(tmp_path):
    store = RecordStore(tmp_path / "r.jsonl")
    store.append({"system_key": "k", "utt_id": "a", "v": 1})
    store.append({"system_key": "k", "utt_id": "a", "v": 2})  # later line wins
    with open(tmp_path / "r.jsonl", "a") as fh:
        fh.write('{"system_key": "k", "utt_id": "b", "v"')  # crash mid-write
    loaded = store.load()
    assert loaded == {("k", "a"): {"system_key": "k", "utt_id": "a", "v": 2}} and store.skipped_lines == 1
    store.append({"system_key": "k", "utt_id": "b", "v": 3})
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(x)["v"] for x in lines] == [1, 2, 3]
    with pytest.raises(ValueError):
        store.append({"system_key": "k", "utt_id": "c", "v": float("nan")})  # JSON has no NaN


def test_default_selection_disables_unmet_metric_with_reason(fake_plugins):
    sel = select_metrics(None, gpu_available=False)
    assert "needs_missing_pkg" in sel.disabled
    assert "tokenizer_bench_no_such_module" in sel.disabled["needs_missing_pkg"]
    assert {"stoi", "wer", "bitrate"} <= set(sel.active)
    assert list(sel.active)[:3] == ["bitrate", "wer", "wil"]  # the paper's column order first


def test_explicit_unmet_metric_is_an_error(fake_plugins):
    with pytest.raises(MissingDependencyError, match="needs_missing_pkg"):
        select_metrics(["stoi", "needs_missing_pkg"], gpu_available=False)
    with pytest.raises(UnknownComponentError, match="Did you mean 'stoi'"):
        select_metrics(["stoj"])


def test_parse_options():
    assert parse_options(["model=/m", "beam_size=5", "local_files_only=true"], "--asr-option") == {
        "model": "/m", "beam_size": 5, "local_files_only": True}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options(["oops"], "--asr-option")

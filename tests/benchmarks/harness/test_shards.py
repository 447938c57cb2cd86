"""Scale-out: two shards merged give the single-process run's numbers; bad merges are refused."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from tokenizer_bench.benchmarks.harness.dataset import read_utterance_list
from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.shards import merge_runs, parse_shard, shard_utterances
from tokenizer_bench.benchmarks.harness.systems import SystemSpec
from tokenizer_bench.core.errors import ConfigError

METRICS = ["bitrate", "wer", "wil", "stoi", "si_sdr"]  # deterministic (no timings)


def _cfg(manifest, out, shard=None, **kw):
    return CompareConfig(systems=[SystemSpec("fake_codec_flaky", baseline=True), SystemSpec("identity")],
                         data=[str(manifest)], out=out, metrics=METRICS, asr="fake_asr", batch_size=2,
                         report_examples=2, aso_iterations=100, plots=False, shard=shard, **kw)


def test_parse_and_split():
    assert parse_shard("1/3") == (1, 3) and parse_shard(None) is None
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)
    ids = [f"u{i}" for i in range(7)]
    parts = [shard_utterances(ids, (i, 3)) for i in range(3)]
    assert parts == [["u0", "u3", "u6"], ["u1", "u4"], ["u2", "u5"]]


def test_two_shards_merged_equal_one_run(fake_plugins, speech_set, tmp_path, harness_app):
    single = tmp_path / "single"
    run_compare(_cfg(speech_set, single, consistency=True))
    s0, s1 = tmp_path / "s0", tmp_path / "s1"
    run_compare(_cfg(speech_set, s0, "0/2", consistency=True))
    run_compare(_cfg(speech_set, s1, "1/2", consistency=True))
    assert [u.id for u in read_utterance_list(s0 / "utterances.jsonl")] == ["utt0", "utt2", "utt4"]
    assert not (s1 / "consistency.jsonl").exists()  # shard 0 checks consistency for everyone
    merged = tmp_path / "merged"
    result = CliRunner().invoke(harness_app, ["compare-merge", str(s1), str(s0), "--out", str(merged), "--no-plots"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    a = json.loads((single / "results.json").read_text())
    b = json.loads((merged / "results.json").read_text())
    for key in ("utterances", "aggregation", "rows", "significance", "consistency"):
        assert a[key] == b[key], key
    assert a["run"]["examples"] == b["run"]["examples"]
    assert (single / "per_utterance.csv").read_text() == (merged / "per_utterance.csv").read_text()
    # the tables are the same text; only the summary says where the numbers came from
    tables = lambda p: (p / "results.md").read_text().split("## Table 1", 1)[1]  # noqa: E731
    assert tables(single) == tables(merged)
    assert "Merged from 2 shards" in (merged / "results.md").read_text()
    assert {p.name for p in (merged / "audio").rglob("*.wav")} == {p.name for p in (single / "audio").rglob("*.wav")}


def test_bad_merges_are_refused(fake_plugins, speech_set, tmp_path):
    s0, s1 = tmp_path / "s0", tmp_path / "s1"
    run_compare(_cfg(speech_set, s0, "0/2"))
    with pytest.raises(ConfigError, match="shard\\(s\\) 1 of 2 missing"):
        merge_runs([s0], tmp_path / "m")
    with pytest.raises(ConfigError, match="also"):
        merge_runs([s0, s0], tmp_path / "m")
    other = _cfg(speech_set, s1, "1/2")
    other.metrics = ["stoi"]
    run_compare(other)
    with pytest.raises(ConfigError, match="other systems, metrics"):
        merge_runs([s0, s1], tmp_path / "m")
    shutil.rmtree(s1)
    run_compare(_cfg(speech_set, s1, "1/3"))
    with pytest.raises(ConfigError, match="another draw"):
        merge_runs([s0, s1], tmp_path / "m")
    single = tmp_path / "single"
    run_compare(_cfg(speech_set, single))
    with pytest.raises(ConfigError, match="not a shard"):
        merge_runs([single], tmp_path / "m")

"""Rate-quality: ``--n-q 1,2,4`` evaluates every tokenizer at each depth it has; tables per depth, the
rate-quality plot, skipped depths said."""

from __future__ import annotations

import json

import pytest

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.systems import SystemSpec, parse_depths
from tokenizer_bench.core.errors import ConfigError


def test_parse_depths():
    assert parse_depths(None) == [None]
    assert parse_depths("4,1,2") == [1, 2, 4]
    assert parse_depths(8) == [8]
    for bad in ("1,x", "0", "2,2", ","):
        with pytest.raises(ConfigError, match="--n-q"):
            parse_depths(bad)


def test_depth_sweep_tables_and_plot(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    cfg = CompareConfig(systems=[SystemSpec("fake_codec", baseline=True), SystemSpec("identity")],
                        data=[str(speech_set)], out=out, metrics=["bitrate", "stoi", "si_sdr"], asr="fake_asr",
                        n_q=[1, 2, 4], report_examples=0, aso_iterations=50, plots=True)
    run_compare(cfg)
    res = json.loads((out / "results.json").read_text())
    rows = res["rows"]
    # fake_codec: 50 frames/s x q x log2(1024) bits; identity has one codebook: only n_q = 1
    assert {k: r["metrics"]["bitrate"]["mean"] for k, r in rows.items()} == {
        "fake_codec @ n_q=1": 500.0, "identity @ n_q=1": 256000.0,
        "fake_codec @ n_q=2": 1000.0, "fake_codec @ n_q=4": 2000.0}
    assert res["run"]["skipped_depths"] == [
        {"label": "identity", "n_q": 2, "reason": "identity has 1 codebook(s)"},
        {"label": "identity", "n_q": 4, "reason": "identity has 1 codebook(s)"}]
    md = (out / "results.md").read_text()
    for d in (1, 2, 4):
        assert f"## Table 1 at n_q = {d}" in md
    sec2 = md.split("## Table 1 at n_q = 2")[1].split("## ")[0]
    assert "fake_codec @ n_q=2" in sec2 and "n_q=4" not in sec2 and "identity" not in sec2
    assert "- n_q = 2: identity skipped (identity has 1 codebook(s))" in md
    # significance only within a depth: at n_q = 1 fake_codec vs identity, nothing at 2 or 4 (one row each)
    assert set(res["significance"]) == {"stoi@n_q=1", "si_sdr@n_q=1"}
    assert set(res["significance"]["stoi@n_q=1"]["matrix"]) == {"fake_codec @ n_q=1", "identity @ n_q=1"}
    assert (out / "plots" / "rate_quality.png").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    assert "id=\"table1-nq4\"" in html and "alt='rate_quality'" in html


def test_single_depth_beyond_codebooks_is_an_error(fake_plugins, speech_set, tmp_path):
    cfg = CompareConfig(systems=[SystemSpec("identity")], data=[str(speech_set)], out=tmp_path / "o",
                        metrics=["bitrate"], asr="fake_asr", n_q=2, plots=False)
    with pytest.raises(ConfigError, match="--n-q 2"):
        run_compare(cfg)

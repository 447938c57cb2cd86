"""Comparable rows: by default every row is aggregated over the utterances all rows scored; a failure
of one system is listed and counted for it and removes that utterance from every row."""

from __future__ import annotations

import json

import pytest

from tokenizer_bench.benchmarks.harness.aggregate import NOT_COMMON
from tokenizer_bench.benchmarks.harness.report import render_outputs
from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.systems import SystemSpec
from tokenizer_bench.core.errors import ConfigError


def _run(manifest, out, **kw):
    cfg = CompareConfig(systems=[SystemSpec("fake_codec", baseline=True), SystemSpec("fake_codec_flaky")],
                        data=[str(manifest)], out=out, metrics=["bitrate", "wer", "stoi"], asr="fake_asr",
                        batch_size=2, report_examples=0, aso_iterations=50, plots=False, **kw)
    run_compare(cfg)
    return json.loads((out / "results.json").read_text())


def test_common_rows_by_default(fake_plugins, speech_set, tmp_path):
    res = _run(speech_set, tmp_path / "run")
    rows = res["rows"]
    fake, flaky, gt = rows["fake_codec"], rows["fake_codec_flaky"], rows["Ground truth"]
    # flaky fails on utt2 (raises) and utt3 (silent): both listed and counted for flaky only
    assert flaky["n_failed"] == 2 and {f["utt_id"] for f in flaky["failures"]} == {"utt2", "utt3"}
    assert fake["n_failed"] == 0
    # STOI: every row over utt0, utt1, utt4 (fake scored 5, but 2 are not scored by flaky)
    assert fake["metrics"]["stoi"]["n"] == flaky["metrics"]["stoi"]["n"] == 3
    assert fake["metrics"]["stoi"]["exclusion_reasons"] == {NOT_COMMON: 2}
    # WER: utt4 has no text, utt2/utt3 failed for flaky -> utt0 "HELLO WORLD", utt1 "HELLO THERE WORLD" for
    # every row, ground truth included; ASR hears "hello world": 1 deletion in 5 words = 20 %
    for row in (gt, fake, flaky):
        assert row["metrics"]["wer"]["n"] == 2
        assert row["metrics"]["wer"]["corpus"] == pytest.approx(20.0)
    agg = res["aggregation"]
    assert agg["mode"] == "common" and agg["n_failed"] == 2
    assert agg["n_by_metric"] == {"bitrate": 3, "wer": 2, "stoi": 3}
    assert agg["statement"] == ("aggregated per metric over the utterances all systems scored "
                                "(Bitrate 3, WER 2, STOI 3; of 5); 2 failure(s) listed under Exclusions")
    md = (tmp_path / "run" / "results.md").read_text()
    assert md.count(agg["statement"]) >= 3  # summary, Table 1, Table 2
    assert "fake_codec_flaky: 1 utterance(s) failed — silent reconstruction" in md
    assert NOT_COMMON not in md  # the statement says it once; not repeated per row as an exclusion
    assert agg["statement"] in (tmp_path / "run" / "report.html").read_text()


def test_per_row_keeps_each_rows_set_and_render_only_can_switch(fake_plugins, speech_set, tmp_path):
    res = _run(speech_set, tmp_path / "run", aggregation="per-row")
    rows = res["rows"]
    assert rows["fake_codec"]["metrics"]["stoi"]["n"] == 5 and rows["fake_codec_flaky"]["metrics"]["stoi"]["n"] == 3
    assert rows["fake_codec"]["metrics"]["wer"]["n"] == 4  # its own 4 utterances with text
    assert res["aggregation"]["statement"].startswith("aggregated per row over the utterances that row scored")
    render_outputs(tmp_path / "run", plots=False, aggregation="common")
    again = json.loads((tmp_path / "run" / "results.json").read_text())
    assert again["rows"]["fake_codec"]["metrics"]["stoi"]["n"] == 3


def test_unknown_mode_is_an_error(fake_plugins, speech_set, tmp_path):
    with pytest.raises(ConfigError, match="per-row"):
        _run(speech_set, tmp_path / "run", aggregation="mean")


def test_a_row_that_scored_nothing_does_not_empty_the_others():
    """One baseline failing on every utterance must not erase every row's figures (comparable rows)."""
    from tokenizer_bench.benchmarks.harness.aggregate import aggregate

    metrics = {"bitrate": {"kind": "system"}, "stoi": {"kind": "audio"}}
    run = {"metrics": metrics, "ground_truth": None,
           "systems": [{"label": "a", "key": "ka"}, {"label": "b", "key": "kb"}, {"label": "broken", "key": "kx"}]}
    utts = ["u0", "u1", "u2"]
    ok = {"status": "ok", "metrics": {"bitrate": 800.0, "stoi": 0.5}}
    records = {("ka", u): ok for u in utts}
    records.update({("kb", u): ok for u in utts[:2]})  # b failed on u2: u2 leaves every row
    records[("kb", "u2")] = {"status": "failed", "error": "silent reconstruction"}
    records.update({("kx", u): {"status": "failed", "error": "silent reconstruction"} for u in utts})
    res = aggregate(run, records, utts)
    for label in ("a", "b"):
        assert res["rows"][label]["metrics"]["bitrate"]["n"] == 2 and res["rows"][label]["metrics"]["stoi"]["n"] == 2
    assert res["rows"]["broken"]["metrics"]["stoi"]["n"] == 0 and res["rows"]["broken"]["n_failed"] == 3
    assert res["aggregation"]["n_by_metric"] == {"bitrate": 2, "stoi": 2}
    assert res["aggregation"]["statement"] == (
        "aggregated over the 2 of 3 utterances all systems scored; 4 failure(s) listed under Exclusions; "
        "scored no utterance, so not part of the comparison: broken")

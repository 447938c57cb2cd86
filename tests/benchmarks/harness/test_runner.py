"""The compare pipeline end to end on synthetic audio with fake plugins: values by hand, bad
inputs recorded (never a crash), resume after an interruption, render-only, early failures."""

from __future__ import annotations

import json

import pytest

from tokenizer_bench.benchmarks.harness.records import RecordStore
from tokenizer_bench.benchmarks.harness.report import render_outputs
from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.systems import SystemSpec
from tokenizer_bench.core.errors import CheckpointError, MissingDependencyError


def _cfg(manifest, out, systems, metrics, plots=False, **kw):
    return CompareConfig(systems=systems, data=[str(manifest)], out=out, metrics=metrics, asr="fake_asr",
                         batch_size=2, report_examples=1, aso_iterations=200, plots=plots, **kw)


def _rows(out):
    return json.loads((out / "results.json").read_text())["rows"]


def test_values_by_hand_and_outputs(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    systems = [SystemSpec("fake_codec", baseline=True), SystemSpec("identity")]
    run_compare(_cfg(speech_set, out, systems, fake_plugins.fast_metrics, plots=True))
    rows = _rows(out)
    assert list(rows) == ["Ground truth", "fake_codec", "identity"]
    gt, fake, ident = rows["Ground truth"], rows["fake_codec"], rows["identity"]
    # ASR always hears "hello world". Per utterance: 0, 1/3 (THERE deleted), 0, 1/3 (SAY deleted); utt4 has no text.
    for row in (gt, fake, ident):
        wer = row["metrics"]["wer"]
        assert (wer["n"], wer["excluded"]) == (4, 1)
        assert wer["exclusion_reasons"] == {"ValueError: no reference transcript for this utterance": 1}
        assert wer["mean"] == pytest.approx(100 * (2 / 3) / 4)
        # concatenated: 10 reference words, 2 deleted -> 20 %; WIL = 1 - 8^2 / (10 * 8) = 20 %
        assert wer["corpus"] == pytest.approx(20.0) and wer["value"] == pytest.approx(20.0)
        assert row["metrics"]["wil"]["corpus"] == pytest.approx(20.0)
    assert set(gt["metrics"]) == {"wer", "wil"}  # the ground truth row has transcript metrics only
    # a gain of 0.5 leaves STOI at 1 and SI-SDR at its cap; identity is exact
    assert fake["metrics"]["stoi"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert fake["metrics"]["si_sdr"]["mean"] == pytest.approx(100.0)
    assert ident["metrics"]["stoi"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert fake["metrics"]["bitrate"]["mean"] == 50 * 4 * 10
    assert ident["metrics"]["bitrate"]["mean"] == 16000 * 16
    assert fake["metrics"]["rtf_encode"]["n"] == 5
    for name in ("results.md", "results.csv", "per_utterance.csv", "results.json", "report.html",
                 "utterances.jsonl", "run.json", "plots/stoi.png", "plots/bitrate_vs_quality.png"):
        assert (out / name).is_file(), name
    md = (out / "results.md").read_text()
    # WER scored on 4 of 5 utterances: the count is shown in the table
    assert "| Ground truth | – | 20.00 (n=4) | 20.00 (n=4) | – | – | – |" in md
    # the utterance list is written with the results
    ids = [json.loads(x)["id"] for x in (out / "utterances.jsonl").read_text().splitlines()]
    assert ids == [f"utt{i}" for i in range(5)]
    # one example (the shortest utterance) is embedded as audio
    assert "data:audio/wav;base64," in (out / "report.html").read_text()


def test_bad_inputs_are_recorded_not_fatal(fake_plugins, speech_set, tmp_path):
    broken = speech_set.parent / "broken.wav"
    broken.write_bytes(b"this is not audio")
    with open(speech_set, "a") as fh:
        fh.write(json.dumps({"id": "utt9", "path": "broken.wav", "text": "HELLO"}) + "\n")
    out = tmp_path / "run"
    run_compare(_cfg(speech_set, out, [SystemSpec("fake_codec_flaky")], fake_plugins.fast_metrics))
    recs = {k[1]: r for k, r in RecordStore(out / "records.jsonl").load().items() if r["system"] == "fake_codec_flaky"}
    assert recs["utt2"]["status"] == "failed" and "codec exploded" in recs["utt2"]["error"]
    assert recs["utt3"]["status"] == "failed" and "silent reconstruction" in recs["utt3"]["error"]
    assert recs["utt9"]["status"] == "failed" and "cannot decode audio" in recs["utt9"]["error"]
    assert "broken.wav" in recs["utt9"]["error"]
    row = _rows(out)["fake_codec_flaky"]
    assert row["n_failed"] == 3
    stoi = row["metrics"]["stoi"]
    assert (stoi["n"], stoi["excluded"]) == (3, 3)  # utt0, utt1, utt4 scored
    wer = row["metrics"]["wer"]
    assert (wer["n"], wer["excluded"]) == (2, 4)  # utt4 has no text
    md = (out / "results.md").read_text()
    assert "failed — silent reconstruction" in md and "failed — tokenizer failed: RuntimeError" in md
    gt = _rows(out)["Ground truth"]
    assert gt["n_failed"] == 1  # the unreadable file, for the ASR of the original too


class _Interrupt(Exception):
    pass


def test_resume_recomputes_only_missing_utterances(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    metrics = ["stoi", "wer"]
    lengths = {fake_plugins.utt_len(i) for i in range(5)}

    def stop_after_three(label, done, total):
        if label == "fake_codec" and done == 3:
            raise _Interrupt()

    with pytest.raises(_Interrupt):
        run_compare(_cfg(speech_set, out, [SystemSpec("fake_codec")], metrics), progress=stop_after_three)
    done = [r for r in RecordStore(out / "records.jsonl").load().values() if r["system"] == "fake_codec"]
    assert len(done) == 3  # (the 4th utterance was in flight in the same ASR batch and is lost)
    assert not (out / "results.json").exists()
    # what an interrupted run rendered shows what is missing
    render_outputs(out, plots=False)
    assert _rows(out)["fake_codec"]["n_missing"] == 2

    fake_plugins.encode_lengths.clear()
    asr_before = len(fake_plugins.asr_inputs)
    result = run_compare(_cfg(speech_set, out, [SystemSpec("fake_codec")], metrics))
    assert sum(n for k, n in fake_plugins.encode_lengths.items() if k in lengths) == 2  # only the missing two
    assert len(fake_plugins.asr_inputs) - asr_before == 2  # ground truth was complete: no new ASR on it
    assert result["counts"] == {"computed": 2, "reused": 8}
    row = _rows(out)["fake_codec"]
    assert row["n_missing"] == 0 and row["metrics"]["stoi"]["n"] == 5

    # a finished run re-renders without any tokenizer or ASR work
    fake_plugins.encode_lengths.clear()
    (out / "results.md").unlink()
    render_outputs(out, plots=False)
    assert (out / "results.md").is_file() and not fake_plugins.encode_lengths

    # asking for one more metric recomputes every utterance (records lack it), nothing else changes
    run_compare(_cfg(speech_set, out, [SystemSpec("fake_codec")], metrics + ["si_sdr"]))
    assert sum(n for k, n in fake_plugins.encode_lengths.items() if k in lengths) == 5
    assert _rows(out)["fake_codec"]["metrics"]["si_sdr"]["n"] == 5


def test_missing_checkpoint_stops_before_any_work(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    systems = [SystemSpec("identity"), SystemSpec("fake_codec", checkpoint=str(tmp_path / "no_such_ckpt"))]
    with pytest.raises(CheckpointError, match="no_such_ckpt"):
        run_compare(_cfg(speech_set, out, systems, ["stoi", "wer"]))
    assert not (out / "records.jsonl").exists()
    assert not fake_plugins.asr_inputs and not fake_plugins.encode_lengths


def test_requested_metric_with_missing_package_is_an_error_before_work(fake_plugins, speech_set, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(MissingDependencyError, match="tokenizer_bench_no_such_module"):
        run_compare(_cfg(speech_set, out, [SystemSpec("identity")], ["stoi", "needs_missing_pkg"]))
    assert not (out / "records.jsonl").exists()


@pytest.mark.slow
def test_metric_worker_processes_give_the_same_scores(fake_plugins, speech_set, tmp_path):
    metrics = ["stoi", "si_sdr", "mel_distance"]
    inline, pooled = tmp_path / "inline", tmp_path / "pooled"
    run_compare(_cfg(speech_set, inline, [SystemSpec("fake_codec")], metrics))
    run_compare(_cfg(speech_set, pooled, [SystemSpec("fake_codec")], metrics, workers=2))
    a, b = _rows(inline)["fake_codec"]["metrics"], _rows(pooled)["fake_codec"]["metrics"]
    for m in metrics:
        assert a[m]["n"] == b[m]["n"] == 5 and a[m]["mean"] == pytest.approx(b[m]["mean"], abs=1e-12)

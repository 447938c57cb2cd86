"""Integration on real speech (librispeech-mini test-other), through ``compare`` itself with the
identity tokenizer and the offline stand-ins: speaker similarity (Resemblyzer) 1.0 +- 1e-6, every
DNSMOS column equal to speechmos' own API on the original file, F0 RMSE 0 and F0 correlation 1;
a different speaker scores clearly lower than the same speaker."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("speechmos")
pytest.importorskip("resemblyzer")

pytestmark = pytest.mark.integration

METRICS = ["speaker_similarity", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "f0_rmse", "f0_corr"]
DNSMOS_KEYS = {"dnsmos_ovrl": "ovrl_mos", "dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_p808": "p808_mos"}


@pytest.fixture
def two_utterances(librispeech_mini, tmp_path):
    files = sorted((librispeech_mini / "test-other").rglob("*.flac"))
    if len(files) < 2:
        pytest.skip("librispeech-mini test-other has fewer than 2 utterances")
    by_speaker: dict[str, list] = {}
    for f in files:
        by_speaker.setdefault(f.name.split("-")[0], []).append(f)
    picks = [group[0] for group in list(by_speaker.values())[:2]]  # two speakers, one utterance each
    manifest = tmp_path / "two.jsonl"
    manifest.write_text("".join(json.dumps({"path": str(p), "id": p.stem}) + "\n" for p in picks))
    return manifest, picks


def test_identity_row_on_real_speech(two_utterances, tmp_path):
    from speechmos import dnsmos

    from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
    from tokenizer_bench.benchmarks.harness.systems import SystemSpec

    manifest, picks = two_utterances
    out = tmp_path / "run"
    cfg = CompareConfig(systems=[SystemSpec("identity")], data=[str(manifest)], out=out, metrics=METRICS,
                        metric_options={"speaker_similarity": {"backend": "resemblyzer"}},
                        report_examples=0, aso_iterations=10, plots=False)
    run_compare(cfg)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    rows = [r for r in records if r["status"] == "ok"]
    assert len(rows) == 2, records
    by_id = {p.stem: p for p in picks}
    for rec in rows:
        m = rec["metrics"]
        assert rec["metric_errors"] == {}
        assert m["speaker_similarity"] == pytest.approx(1.0, abs=1e-6)
        assert m["f0_rmse"] == 0.0
        assert m["f0_corr"] == pytest.approx(1.0, abs=1e-9)
        direct = dnsmos.run(str(by_id[rec["utt_id"]]), 16000)
        for name, key in DNSMOS_KEYS.items():
            assert m[name] == pytest.approx(float(direct[key]), abs=1e-5), name


def test_other_speaker_scores_lower(two_utterances):
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.plugins.metrics.speaker_similarity import SpeakerSimilarity

    _, (a_path, b_path) = two_utterances
    a, _ = load_audio(a_path, 16000)
    b, _ = load_audio(b_path, 16000)
    n = min(a.shape[-1], b.shape[-1])
    a, b = a[:, :n].numpy().astype(np.float64), b[:, :n].numpy().astype(np.float64)
    metric = SpeakerSimilarity(backend="resemblyzer")
    same = metric(reference=a[0], estimate=a[0], sample_rate=16000)
    other = metric(reference=a[0], estimate=b[0], sample_rate=16000)
    noisy = metric(reference=a[0], estimate=a[0] + 0.003 * np.random.default_rng(0).standard_normal(n),
                   sample_rate=16000)
    assert same == pytest.approx(1.0, abs=1e-6)
    assert other < noisy < same
    assert other < 0.9


def test_yin_agrees_with_librosa_pyin_on_speech(two_utterances):
    """Our tracker against an independent one (librosa's pYIN) on real speech, same frames."""
    librosa = pytest.importorskip("librosa")
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.plugins.metrics.f0 import PitchSettings, yin_track

    _, (path, _) = two_utterances
    wav, sr = load_audio(path, 16000)
    x = wav[0].numpy().astype(np.float64)[: 8 * sr]
    s = PitchSettings()
    ours, voiced = yin_track(x, sr, s)
    span = int(s.window_s * sr) + int(np.ceil(sr / s.fmin)) + 1  # our frame: window + largest lag
    ref, ref_voiced, _ = librosa.pyin(x, fmin=s.fmin, fmax=s.fmax, sr=sr, frame_length=span,
                                      hop_length=int(s.hop_s * sr), center=False)
    n = min(ours.size, ref.size)
    both = voiced[:n] & ref_voiced[:n]
    assert both.sum() > 50
    ratio = ours[:n][both] / ref[:n][both]
    assert np.median(np.abs(ours[:n][both] - ref[:n][both])) < 3.0  # Hz
    assert np.mean(np.abs(np.log2(ratio)) > 0.5) < 0.03  # octave errors on under 3 % of the frames

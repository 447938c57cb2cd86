"""DNSMOS columns equal speechmos' own API called directly on the same file; the four columns
read one computation; an identity reconstruction scores what the original scores; bad input and a
missing package are clear errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("speechmos")
pytest.importorskip("onnxruntime")

from speechmos import dnsmos as speechmos_dnsmos

from tokenizer_bench.benchmarks.harness.scoring import score_audio_metrics
from tokenizer_bench.core.audio import load_audio
from tokenizer_bench.core.errors import MissingDependencyError
from tokenizer_bench.plugins.metrics import dnsmos as mod

SR = 16000
COLUMNS = {"dnsmos_ovrl": "ovrl_mos", "dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_p808": "p808_mos"}
CLASSES = {"dnsmos_ovrl": mod.DNSMOSOverall, "dnsmos_sig": mod.DNSMOSSignal, "dnsmos_bak": mod.DNSMOSBackground,
           "dnsmos_p808": mod.DNSMOSP808}


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory):
    """3 s of a voiced, formant-like signal with a little noise, as 16-bit PCM."""
    rng = np.random.default_rng(3)
    t = np.arange(3 * SR) / SR
    f0 = 130 + 25 * np.sin(2 * np.pi * 0.8 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum((0.25 / k) * np.sin(k * phase) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) for k in range(1, 12))
    x = 0.8 * x / np.abs(x).max() + 0.003 * rng.standard_normal(t.size)
    path = tmp_path_factory.mktemp("dnsmos") / "speech.wav"
    sf.write(path, x, SR, subtype="PCM_16")
    return path


def test_equals_speechmos_on_the_same_file(speech_file):
    direct = speechmos_dnsmos.run(str(speech_file), SR)
    wav, sr = load_audio(speech_file, SR)
    for name, key in COLUMNS.items():
        got = CLASSES[name]()(reference=wav[0], estimate=wav[0], sample_rate=sr)
        assert got == pytest.approx(float(direct[key]), abs=1e-6), name
        assert 1.0 <= got <= 5.0


def test_identity_row_equals_original_and_columns_share_one_pass(speech_file, monkeypatch):
    wav, _ = load_audio(speech_file, SR)
    original = speechmos_dnsmos.run(str(speech_file), SR)
    mod._CACHE.clear()
    calls = []
    for part in ("_p835", "_p808"):  # one pass of each model over the windows
        real = getattr(mod, part)
        monkeypatch.setattr(mod, part, lambda *a, real=real, part=part: calls.append(part) or real(*a))
    metrics = {name: cls() for name, cls in CLASSES.items()}
    ref = wav[0].numpy().astype(np.float64)
    values, errors = score_audio_metrics(metrics, ref, SR, ref.copy(), SR)  # what the harness does per row
    assert errors == {}
    assert sorted(calls) == ["_p808", "_p835"]
    for name, key in COLUMNS.items():
        assert values[name] == pytest.approx(float(original[key]), abs=1e-6)


def test_ovrl_alone_does_not_run_p808_and_equals_speechmos_on_librispeech(monkeypatch):
    """A real test-other utterance (4-4.9 s: tiled to 16-19.6 s, several windows), scored as speechmos scores it."""
    from tokenizer_bench.core import paths

    root = paths.librispeech_mini_dir()
    if root is None:
        pytest.skip("librispeech-mini absent")
    path = next(p for p in sorted((root / "test-other").rglob("*.flac")) if 4.0 < sf.info(p).duration < 4.9)
    wav, _ = load_audio(path, SR)
    x = wav[0].numpy()
    direct = speechmos_dnsmos.run(x.astype(np.float32), SR)
    assert len(mod._windows(x.astype(np.float32))) >= 6
    mod._CACHE.clear()
    monkeypatch.setattr(mod, "_p808", lambda *a: pytest.fail("P.808 ran for OVRL"))
    assert mod.DNSMOSOverall()(estimate=x, sample_rate=SR) == pytest.approx(float(direct["ovrl_mos"]), abs=1e-6)


def test_sessions_run_at_this_process_thread_count(monkeypatch):
    """In a one-thread metric worker the ONNX sessions get one intra-op thread, not one per core."""
    import torch

    monkeypatch.setattr(mod, "_SCORERS", {})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scorer = mod._scorer(False)
    finally:
        torch.set_num_threads(before)
    for sess in (scorer.onnx_sess, scorer.p808_onnx_sess):
        assert sess.get_session_options().intra_op_num_threads == 1


def test_degraded_audio_scores_lower(speech_file):
    wav, _ = load_audio(speech_file, SR)
    x = wav[0].numpy().astype(np.float64)
    noisy = np.clip(x + 0.2 * np.random.default_rng(0).standard_normal(x.size), -1, 1)
    m = mod.DNSMOSBackground()
    assert m(estimate=noisy, sample_rate=SR) < m(estimate=x, sample_rate=SR) - 0.5


def test_bad_input_is_an_error():
    m = mod.DNSMOSOverall()
    with pytest.raises(ValueError, match="needs 16000 Hz"):
        m(estimate=np.zeros(8000), sample_rate=8000)
    with pytest.raises(ValueError, match="non-finite"):
        m(estimate=np.full(16000, np.nan), sample_rate=SR)
    with pytest.raises(ValueError, match="empty"):
        m(estimate=torch.zeros(0), sample_rate=SR)


def test_missing_package_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "speechmos" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install speechmos"):
        mod.DNSMOSOverall()

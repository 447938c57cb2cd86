"""The torch Kaldi filter banks (X-Codec2/NeuCodec semantic features) against an independent implementation.

The reference is transformers' numpy path (``SeamlessM4TFeatureExtractor._extract_fbank_features``:
``audio_utils.spectrogram`` with Kaldi's mel scale, Povey window, pre-emphasis, DC removal), which
the original X-Codec2 code used and which shares no code with ours; compared on real LibriSpeech
audio. The mel triangles are also checked against the formula at hand-worked points.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tokenizer_bench.core.audio import load_audio
from tokenizer_bench.plugins.tokenizers._kaldi_fbank import fbank, mel_banks, normalise


def test_equals_transformers_numpy_kaldi_fbank_on_speech(librispeech_mini):
    from transformers import SeamlessM4TFeatureExtractor

    files = sorted((librispeech_mini / "test-clean").rglob("*.flac"))[:2]
    waves = [load_audio(f, 16000)[0].reshape(-1)[: 16000 * 3] for f in files]
    ours = fbank(torch.stack(waves) * 2**15)  # batched: [2, frames, 80]
    fe = SeamlessM4TFeatureExtractor()
    for i, w in enumerate(waves):
        ref = fe._extract_fbank_features(w.numpy())
        assert ref.shape == ours[i].shape == (1 + (16000 * 3 - 400) // 160, 80)
        np.testing.assert_allclose(ours[i].numpy(), ref, atol=1e-4, rtol=1e-5)
        # per-bin normalisation: zero mean, unit unbiased std over frames
        z = normalise(ours[i : i + 1])[0].numpy().astype(np.float64)
        ref64 = ref.astype(np.float64)
        np.testing.assert_allclose(z, (ref64 - ref64.mean(0)) / np.sqrt(ref64.var(0, ddof=1) + 1e-7), atol=1e-4)


def test_mel_triangles_by_hand():
    """Kaldi mel = 1127 ln(1 + f/700); filter i spans mel points i, i+1, i+2 of 82 equal steps 20 Hz..8 kHz."""
    banks = mel_banks(80, 512, 16000, 20.0, 8000.0)
    assert banks.shape == (80, 257) and float(banks[:, 256].abs().sum()) == 0.0  # Nyquist bin unused
    mel = lambda f: 1127 * math.log(1 + f / 700)  # noqa: E731
    lo, hi = mel(20), mel(8000)
    delta = (hi - lo) / 81
    k = 100  # FFT bin 100 = 3125 Hz
    m = mel(k * 16000 / 512)
    i = int((m - lo) // delta) - 1  # the filter whose rising edge holds m is i + 1; falling edge: i
    up = (m - (lo + (i + 1) * delta)) / delta
    assert float(banks[i + 1, k]) == pytest_approx(up)
    assert float(banks[i, k]) == pytest_approx(1 - up)
    assert float(banks[:, k].sum()) == pytest_approx(1.0)


def pytest_approx(x):
    import pytest

    return pytest.approx(x, abs=1e-9)


def test_short_input_has_no_frames():
    assert fbank(torch.zeros(1, 399)).shape == (1, 0, 80)

"""STOI metric: identical and scaled signals give 1; a degraded signal matches an independent STOI
written from Taal et al. (2011) and the MATLAB reference conventions (at STOI's own 10 kHz)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("pystoi")

from tokenizer_bench.plugins.metrics.stoi import STOI

FS, N_FRAME, NFFT, N_BANDS, MIN_FREQ, N_SEG, BETA, DYN_RANGE = 10000, 256, 512, 15, 150.0, 30, -15.0, 40.0


def _window() -> np.ndarray:
    return np.hanning(N_FRAME + 2)[1:-1]  # MATLAB hanning(N): no zero end points


def _starts(length: int) -> list[int]:
    return list(range(0, length - N_FRAME, N_FRAME // 2))  # MATLAB 1:K:(L-N)


def remove_silent_frames(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = _window()
    starts = _starts(len(x))
    energy = np.array([20 * np.log10(np.linalg.norm(x[s : s + N_FRAME] * w) / np.sqrt(N_FRAME)) for s in starts])
    keep = (energy - energy.max() + DYN_RANGE) > 0
    xs = np.zeros_like(x)
    ys = np.zeros_like(y)
    count = 0
    end = 0
    for s, k in zip(starts, keep):
        if k:
            o = starts[count]
            xs[o : o + N_FRAME] += x[s : s + N_FRAME] * w
            ys[o : o + N_FRAME] += y[s : s + N_FRAME] * w
            end = o + N_FRAME
            count += 1
    return xs[:end], ys[:end]


def third_octave_matrix() -> np.ndarray:
    f = np.linspace(0, FS, NFFT + 1)[: NFFT // 2 + 1]
    k = np.arange(N_BANDS)
    fl = np.sqrt((2 ** (k / 3) * MIN_FREQ) * 2 ** ((k - 1) / 3) * MIN_FREQ)
    fr = np.sqrt((2 ** (k / 3) * MIN_FREQ) * 2 ** ((k + 1) / 3) * MIN_FREQ)
    a = np.zeros((N_BANDS, f.size))
    for i in range(N_BANDS):
        lo = int(np.argmin((f - fl[i]) ** 2))
        hi = int(np.argmin((f - fr[i]) ** 2))
        a[i, lo:hi] = 1
    return a


def band_envelopes(x: np.ndarray) -> np.ndarray:
    w = _window()
    frames = np.array([np.fft.fft(x[s : s + N_FRAME] * w, NFFT)[: NFFT // 2 + 1] for s in _starts(len(x))])
    return np.sqrt(third_octave_matrix() @ (np.abs(frames) ** 2).T)  # [bands, frames]


def stoi_reference(x: np.ndarray, y: np.ndarray) -> float:
    x, y = remove_silent_frames(np.asarray(x, float), np.asarray(y, float))
    X, Y = band_envelopes(x), band_envelopes(y)
    c = 10 ** (-BETA / 20)
    scores = []
    for m in range(N_SEG, X.shape[1] + 1):
        xs, ys = X[:, m - N_SEG : m], Y[:, m - N_SEG : m]
        alpha = np.sqrt((xs**2).sum(axis=1, keepdims=True) / (ys**2).sum(axis=1, keepdims=True))
        yp = np.minimum(ys * alpha, xs * (1 + c))
        for j in range(xs.shape[0]):
            a = xs[j] - xs[j].mean()
            b = yp[j] - yp[j].mean()
            scores.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    return float(np.mean(scores))


def _modulated_noise(n: int, fs: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    return rng.standard_normal(n) * (1 + 0.8 * np.sin(2 * np.pi * 3 * t))


def test_identical_and_scaled_signals_score_one():
    x = _modulated_noise(32000, 16000)
    m = STOI()
    assert m(reference=x, estimate=x, sample_rate=16000) == pytest.approx(1.0, abs=1e-9)
    # STOI normalises each 384 ms segment's energy, so a global gain changes nothing
    assert m(reference=x, estimate=0.1 * x, sample_rate=16000) == pytest.approx(1.0, abs=1e-9)


def test_degraded_signal_matches_independent_implementation():
    x = _modulated_noise(20000, 10000)
    y = x + 0.7 * np.random.default_rng(1).standard_normal(x.size)
    expected = stoi_reference(x, y)
    got = STOI(sample_rate=10000)(reference=torch.from_numpy(x), estimate=torch.from_numpy(y), sample_rate=10000)
    assert 0.5 < expected < 0.99
    assert got == pytest.approx(expected, abs=1e-6)


def test_unrelated_signal_scores_near_zero():
    # envelopes of independent noises are uncorrelated: the expected correlation is 0
    x = _modulated_noise(32000, 16000, seed=2)
    y = np.random.default_rng(3).standard_normal(x.size)
    assert abs(STOI()(reference=x, estimate=y, sample_rate=16000)) < 0.1


def test_too_short_signal_is_an_error_not_a_score():
    x = _modulated_noise(2000, 16000)
    with pytest.raises(ValueError, match="too little"):
        STOI()(reference=x, estimate=x, sample_rate=16000)

"""F0 metrics against signals of known pitch: YIN recovers a tone's frequency, 150 Hz vs 165 Hz gives
an RMSE of 15 Hz, a signal against itself 0 Hz and correlation 1, a glide against the same glide
shifted by a constant ratio has the RMSE worked out from its formula; undefined cases are errors."""

from __future__ import annotations

import numpy as np
import pytest

from tokenizer_bench.plugins.metrics.f0 import F0Correlation, F0RMSE, PitchSettings, yin_track

SR = 16000
T = np.arange(2 * SR) / SR


def tone(f: float, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f * T)


def glide(scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic-rich glide 120 -> 240 Hz over 2 s (times ``scale``) and its instantaneous pitch."""
    f = scale * (120.0 + 60.0 * T)
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum((0.4 / k) * np.sin(k * phase) for k in range(1, 5))
    return x, f


@pytest.mark.parametrize("f", [80.0, 150.0, 220.0, 400.0])
def test_yin_finds_the_pitch_of_a_tone(f):
    f0, voiced = yin_track(tone(f), SR)
    assert voiced.all()
    assert np.max(np.abs(f0 - f)) < 0.005 * f


def test_rmse_of_two_tones_is_their_difference():
    assert F0RMSE()(reference=tone(150), estimate=tone(165), sample_rate=SR) == pytest.approx(15.0, abs=0.15)


def test_same_signal_gives_zero_rmse_and_unit_correlation():
    x, _ = glide()
    assert F0RMSE()(reference=tone(150), estimate=tone(150), sample_rate=SR) == 0.0
    assert F0RMSE()(reference=x, estimate=x, sample_rate=SR) == 0.0
    assert F0Correlation()(reference=x, estimate=x, sample_rate=SR) == pytest.approx(1.0, abs=1e-12)


def test_glide_against_a_shifted_glide():
    """f_est = 1.1 f_ref on every frame: RMSE = 0.1 * sqrt(mean f_ref^2) over the scored frames, corr = 1."""
    x, f = glide()
    y, _ = glide(1.1)
    f_ref, v = yin_track(x, SR)
    s = PitchSettings()
    hop, w = int(s.hop_s * SR), int(s.window_s * SR)
    # the frame's pitch is the glide's mean pitch over its integration window (linear in time)
    starts = hop * np.arange(v.size)
    f_true = np.array([f[a : a + w].mean() for a in starts])
    assert np.max(np.abs(f_ref[v] - f_true[v])) < 1.5  # tracker follows the glide
    expected = 0.1 * np.sqrt(np.mean(f_true[v] ** 2))
    assert F0RMSE()(reference=x, estimate=y, sample_rate=SR) == pytest.approx(expected, rel=0.02)
    assert F0Correlation()(reference=x, estimate=y, sample_rate=SR) > 0.999


def test_undefined_cases_are_errors():
    silence = np.zeros_like(T)
    with pytest.raises(ValueError, match="fewer than 2 frames voiced"):
        F0RMSE()(reference=tone(150), estimate=silence, sample_rate=SR)
    with pytest.raises(ValueError, match="constant"):
        F0Correlation()(reference=tone(150), estimate=tone(150), sample_rate=SR)
    with pytest.raises(ValueError, match="too short"):
        F0RMSE()(reference=tone(150)[:300], estimate=tone(150)[:300], sample_rate=SR)
    with pytest.raises(ValueError, match="fmin < fmax"):
        F0RMSE(fmin=300, fmax=100)


def test_white_noise_is_mostly_unvoiced():
    rng = np.random.default_rng(0)
    _, voiced = yin_track(0.3 * rng.standard_normal(T.size), SR)
    assert voiced.mean() < 0.05

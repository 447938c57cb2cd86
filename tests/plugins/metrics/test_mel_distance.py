"""Mel distance: 0 for identical signals, exactly one decade (1.0) for a 10x gain."""

from __future__ import annotations

import numpy as np
import pytest

from tokenizer_bench.plugins.metrics.mel_distance import MelDistance


def test_identical_is_zero():
    x = 0.1 * np.random.default_rng(0).standard_normal(16000)
    assert MelDistance()(reference=x, estimate=x.copy(), sample_rate=16000) == 0.0


def test_gain_of_ten_is_one_decade():
    # STFT magnitude and mel projection are linear: M(10 x) = 10 M(x), so |log10 10M - log10 M| = 1
    # wherever M stays above the 1e-5 floor (white noise at 0.1 is far above it in every band).
    x = 0.1 * np.random.default_rng(1).standard_normal(16000)
    assert MelDistance()(reference=x, estimate=10 * x, sample_rate=16000) == pytest.approx(1.0, abs=1e-9)


def test_floor_limits_silence():
    x = 0.1 * np.random.default_rng(2).standard_normal(16000)
    d = MelDistance()(reference=x, estimate=np.zeros_like(x), sample_rate=16000)
    assert d > 1.0  # everything above the floor is lost


def test_too_short():
    with pytest.raises(ValueError, match="too short"):
        MelDistance()(reference=np.ones(100), estimate=np.ones(100), sample_rate=16000)

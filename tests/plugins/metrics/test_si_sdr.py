"""SI-SDR against hand-derived values: orthogonal noise of known energy gives its SNR exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokenizer_bench.plugins.metrics.si_sdr import MAX_DB, SISDR


def _zero_mean(x):
    return x - x.mean()


def _orthogonal_noise(s: np.ndarray, energy: float, seed: int = 0) -> np.ndarray:
    n = _zero_mean(np.random.default_rng(seed).standard_normal(s.size))
    n -= (n @ s) / (s @ s) * s  # Gram-Schmidt: <n, s> = 0 (and n stays zero-mean)
    return n * math.sqrt(energy / (n @ n))


def test_known_snr_by_hand():
    s = _zero_mean(np.sin(np.linspace(0, 40 * np.pi, 8000)) + 0.3 * np.random.default_rng(1).standard_normal(8000))
    # est = 0.5 s + n with |n|^2 = |0.5 s|^2 / 100  ->  SI-SDR = 10 log10(100) = 20 dB
    n = _orthogonal_noise(s, energy=(0.25 * (s @ s)) / 100)
    assert SISDR()(reference=s, estimate=0.5 * s + n) == pytest.approx(20.0, abs=1e-9)
    # the sign of the projection does not matter either
    estimate = -2.0 * s + _orthogonal_noise(s, 4.0 * (s @ s) / 10)
    assert SISDR()(reference=s, estimate=estimate) == pytest.approx(10.0, abs=1e-9)


def test_scaled_copy_hits_the_cap():
    s = _zero_mean(np.random.default_rng(2).standard_normal(4000))
    assert SISDR()(reference=s, estimate=3.0 * s) == pytest.approx(MAX_DB)


def test_constant_reference_is_an_error():
    with pytest.raises(ValueError, match="zero energy"):
        SISDR()(reference=np.ones(100), estimate=np.random.default_rng(0).standard_normal(100))

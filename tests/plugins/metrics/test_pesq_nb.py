"""PESQ-NB: identical speech-like signals reach the P.862.1 ceiling (raw 4.5 -> MOS-LQO 4.549,
the mapping 0.999 + 4 / (1 + exp(-1.4945 x + 4.6607)) worked here), noise lowers it, and the
wideband metric on the same signals has its own, higher ceiling."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pesq")

from tokenizer_bench.plugins.metrics.pesq_nb import PESQNarrowband
from tokenizer_bench.plugins.metrics.pesq_wb import PESQ

SR = 16000


def _speechy() -> np.ndarray:
    t = np.arange(3 * SR) / SR
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    env = 0.5 * (1 + np.sin(2 * np.pi * 2.5 * t))
    return 0.3 * env * sum(np.sin(k * phase) / k for k in range(1, 10))


def test_ceiling_and_degradation():
    x = _speechy()
    ceiling = 0.999 + 4.0 / (1.0 + math.exp(-1.4945 * 4.5 + 4.6607))
    nb = PESQNarrowband()
    assert nb(reference=x, estimate=x, sample_rate=SR) == pytest.approx(ceiling, abs=2e-3)
    noisy = x + 0.05 * np.random.default_rng(0).standard_normal(x.size)
    assert nb(reference=x, estimate=noisy, sample_rate=SR) < ceiling - 0.5
    assert PESQ()(reference=x, estimate=x, sample_rate=SR) > ceiling  # WB's ceiling is 4.644
    with pytest.raises(ValueError, match="16 kHz"):
        nb(reference=x, estimate=x, sample_rate=8000)

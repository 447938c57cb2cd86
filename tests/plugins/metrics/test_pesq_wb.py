"""Wideband PESQ (plugins/metrics/pesq_wb.py) against a documented reference point: PESQ-WB of a
signal against itself is the ceiling of the P.862.2 mapping, 4.644."""

from __future__ import annotations

import numpy as np
import pytest


def test_pesq_identical_is_the_wideband_ceiling_and_noise_lowers_it(voiced):
    pytest.importorskip("pesq")
    from tokenizer_bench.plugins.metrics.pesq_wb import PESQ

    x = voiced
    assert PESQ()(reference=x, estimate=x, sample_rate=16000) == pytest.approx(4.644, abs=1e-3)
    noisy = x + 0.003 * np.random.default_rng(0).standard_normal(x.size)
    assert PESQ()(reference=x, estimate=noisy, sample_rate=16000) < 3.0
    with pytest.raises(ValueError, match="16 kHz"):
        PESQ()(reference=x, estimate=x, sample_rate=8000)

"""Wideband PESQ and ViSQOL (speech mode, lattice mapper) against documented reference points.

- PESQ-WB of a signal against itself is the ceiling of the P.862.2 mapping, 4.644.
- ViSQOL speech mode with the *polynomial* mapper scales an identical pair to exactly 5.0; the
  C++ default (lattice model) does not. A score clearly below 5 for identical input shows the
  lattice mapper is active (not the silent polynomial fallback).
"""

from __future__ import annotations

import numpy as np
import pytest

from tokenizer_bench.core.interfaces import MetricNeeds


def _voiced(seconds: float = 3.0, fs: int = 16000) -> np.ndarray:
    """A speech-like test signal: a gliding harmonic tone with syllable-rate on/off envelope."""
    t = np.arange(int(seconds * fs)) / fs
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / fs
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    return 0.1 * x * np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 2


def test_pesq_identical_is_the_wideband_ceiling_and_noise_lowers_it():
    pytest.importorskip("pesq")
    from tokenizer_bench.plugins.metrics.pesq_wb import PESQ

    x = _voiced()
    assert PESQ()(reference=x, estimate=x, sample_rate=16000) == pytest.approx(4.644, abs=1e-3)
    noisy = x + 0.003 * np.random.default_rng(0).standard_normal(x.size)
    assert PESQ()(reference=x, estimate=noisy, sample_rate=16000) < 3.0
    with pytest.raises(ValueError, match="16 kHz"):
        PESQ()(reference=x, estimate=x, sample_rate=8000)


def test_visqol_declares_lattice_runtime_and_16k():
    from tokenizer_bench.plugins.metrics.visqol_speech import ViSQOL

    assert ViSQOL.needs == MetricNeeds(reference_audio=True, packages=("visqol", "ai_edge_litert"), sample_rate=16000)


def test_visqol_lattice_identical_below_five_and_degradation_lowers_it():
    pytest.importorskip("visqol")
    pytest.importorskip("ai_edge_litert")
    from tokenizer_bench.plugins.metrics.visqol_speech import ViSQOL

    m = ViSQOL()
    x = _voiced()
    same = m(reference=x, estimate=x, sample_rate=16000)
    assert 3.5 < same < 4.9  # lattice mapper: not the polynomial's 5.0
    noisy = x + 3e-4 * np.random.default_rng(1).standard_normal(x.size)
    assert 1.0 <= m(reference=x, estimate=noisy, sample_rate=16000) < same

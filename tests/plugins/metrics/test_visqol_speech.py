"""ViSQOL speech mode with the lattice mapper (plugins/metrics/visqol_speech.py). With the
*polynomial* mapper an identical pair scales to exactly 5.0; the C++ default (lattice model) does
not. A score clearly below 5 for identical input shows the lattice mapper is active (not the silent
polynomial fallback)."""

from __future__ import annotations

import numpy as np
import pytest

from tokenizer_bench.core.interfaces import MetricNeeds


def test_visqol_declares_lattice_runtime_and_16k():
    from tokenizer_bench.plugins.metrics.visqol_speech import ViSQOL

    assert ViSQOL.needs == MetricNeeds(reference_audio=True, packages=("visqol", "ai_edge_litert"), sample_rate=16000)


def test_visqol_lattice_identical_below_five_and_degradation_lowers_it(voiced):
    pytest.importorskip("visqol")
    pytest.importorskip("ai_edge_litert")
    from tokenizer_bench.plugins.metrics.visqol_speech import ViSQOL

    m = ViSQOL()
    x = voiced
    same = m(reference=x, estimate=x, sample_rate=16000)
    assert 3.5 < same < 4.9  # lattice mapper: not the polynomial's 5.0
    noisy = x + 3e-4 * np.random.default_rng(1).standard_normal(x.size)
    assert 1.0 <= m(reference=x, estimate=noisy, sample_rate=16000) < same

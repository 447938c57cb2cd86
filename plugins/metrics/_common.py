"""Shared helpers of the built-in metrics (not scanned for hooks: the name starts with ``_``).

Every built-in metric follows :class:`tokenizer_bench.core.interfaces.Metric`: its ``needs`` say
what it is given, its ``meta`` (:class:`~tokenizer_bench.core.interfaces.MetricMeta`) how the
harness prints, ranks and aggregates it, exactly as for a third-party metric.

Audio inputs reach a metric as 1-D float64 numpy arrays at ``needs.sample_rate`` with equal
lengths (the harness resamples and trims to the shorter signal).
"""

from __future__ import annotations

import numpy as np


def mono_pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a reference/estimate pair and return them as 1-D float64 arrays.

    Raises ``ValueError`` naming the problem so the harness can record it for the utterance.
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    est = np.asarray(estimate, dtype=np.float64).reshape(-1)
    if ref.size == 0 or est.size == 0:
        raise ValueError("empty signal")
    if ref.shape != est.shape:
        raise ValueError(f"length mismatch: reference {ref.size} samples, estimate {est.size}")
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise ValueError("non-finite samples (NaN/Inf)")
    return ref, est

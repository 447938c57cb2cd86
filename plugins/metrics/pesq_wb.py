"""Wideband PESQ (ITU-T P.862.2) at 16 kHz via the ``pesq`` package."""

from __future__ import annotations

import numpy as np

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._common import mono_pair


class PESQ:
    """Wideband PESQ MOS-LQO (about 1.04..4.64, higher is better)."""

    name = "pesq"
    meta = MetricMeta(higher_is_better=True, display="PESQ", decimals=2, kind="audio")
    needs = MetricNeeds(reference_audio=True, packages=("pesq",), sample_rate=16000)
    mode = "wb"  # the pesq package's model: "wb" (P.862.2) or "nb" (P.862 + P.862.1)
    rate_error = "wideband PESQ needs 16 kHz input, got {} Hz"

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        from pesq import pesq

        ref, est = mono_pair(reference, estimate)
        if int(sample_rate) != 16000:
            raise ValueError(self.rate_error.format(sample_rate))
        # pesq raises (e.g. NoUtterancesError) on signals it cannot score; the harness records
        # the message for the utterance.
        return float(pesq(16000, ref, est, self.mode))


def register_metrics(register) -> None:
    register("pesq", PESQ)

"""Narrowband PESQ (ITU-T P.862 with the P.862.1 MOS-LQO mapping) at 16 kHz via the ``pesq`` package.

Codec tables (the X-Codec2/Llasa table, among others) report PESQ-NB next to PESQ-WB; both are
computed on the same 16 kHz signals — the ``pesq`` package runs P.862's narrowband model (IRS
receive filter) on 16 kHz input in ``"nb"`` mode. Its ceiling, for identical signals, is 4.549
(raw P.862 score 4.5 through the P.862.1 mapping), not wideband's 4.644.
"""

from __future__ import annotations

import numpy as np

from tokenizer_bench.core.interfaces import MetricNeeds

from ._common import mono_pair


class PESQNarrowband:
    """Narrowband PESQ MOS-LQO (about 1.02..4.55, higher is better)."""

    name = "pesq_nb"
    display = "PESQ-NB"
    unit = ""
    display_scale = 1.0
    kind = "audio"
    higher_is_better = True
    needs = MetricNeeds(reference_audio=True, packages=("pesq",), sample_rate=16000)

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        from pesq import pesq

        ref, est = mono_pair(reference, estimate)
        if int(sample_rate) != 16000:
            raise ValueError(f"PESQ-NB is scored on 16 kHz input here, got {sample_rate} Hz")
        return float(pesq(16000, ref, est, "nb"))


def register_metrics(register) -> None:
    register("pesq_nb", PESQNarrowband)

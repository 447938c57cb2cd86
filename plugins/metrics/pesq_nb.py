"""Narrowband PESQ (ITU-T P.862 with the P.862.1 MOS-LQO mapping) at 16 kHz via the ``pesq`` package.

Codec tables (the X-Codec2/Llasa table, among others) report PESQ-NB next to PESQ-WB; both are
computed on the same 16 kHz signals — the ``pesq`` package runs P.862's narrowband model (IRS
receive filter) on 16 kHz input in ``"nb"`` mode. Its ceiling, for identical signals, is 4.549
(raw P.862 score 4.5 through the P.862.1 mapping), not wideband's 4.644.
"""

from __future__ import annotations

from tokenizer_bench.core.interfaces import MetricMeta

from tokenizer_bench.plugins.metrics.pesq_wb import PESQ


class PESQNarrowband(PESQ):
    """Narrowband PESQ MOS-LQO (about 1.02..4.55, higher is better): wideband's metric in ``"nb"`` mode."""

    name = "pesq_nb"
    meta = MetricMeta(higher_is_better=True, display="PESQ-NB", decimals=3, kind="audio")
    mode = "nb"
    rate_error = "PESQ-NB is scored on 16 kHz input here, got {} Hz"


def register_metrics(register) -> None:
    register("pesq_nb", PESQNarrowband)

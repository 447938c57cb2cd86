"""Short-time objective intelligibility (STOI, Taal et al. 2011) via ``pystoi``.

Scored at 16 kHz; pystoi resamples internally to STOI's 10 kHz exactly as the reference MATLAB
code does, so values match what other papers (and DM-Codec's Table 1) report.
"""

from __future__ import annotations

import warnings

import numpy as np

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._common import mono_pair


class STOI:
    """Short-time objective intelligibility (0..1, higher is better)."""

    name = "stoi"
    meta = MetricMeta(higher_is_better=True, display="STOI", decimals=3, kind="audio")

    def __init__(self, sample_rate: int = 16000) -> None:
        self.needs = MetricNeeds(reference_audio=True, packages=("pystoi",), sample_rate=int(sample_rate))

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        from pystoi import stoi

        ref, est = mono_pair(reference, estimate)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = float(stoi(ref, est, int(sample_rate), extended=False))
        # pystoi returns 1e-5 with a warning when too little speech is left after removing
        # silent frames; that is "undefined", not "unintelligible".
        for w in caught:
            if "Not enough STFT frames" in str(w.message):
                raise ValueError("too little non-silent audio for STOI (needs >= 30 frames of 25.6 ms)")
        return value


def register_metrics(register) -> None:
    register("stoi", STOI)

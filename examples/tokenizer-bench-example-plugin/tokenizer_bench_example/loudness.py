"""A metric plugin: absolute RMS level difference in dB (lower is better)."""

from __future__ import annotations

import math

import torch

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds


class LoudnessDifference:
    name = "loudness_difference"
    needs = MetricNeeds(reference_audio=True)
    meta = MetricMeta(higher_is_better=False, display="Loudness diff", unit="dB", decimals=2)

    def __init__(self, floor_db: float = -100.0) -> None:
        self.floor_db = floor_db

    def _db(self, wav: torch.Tensor) -> float:
        rms = float(wav.double().pow(2).mean().sqrt())
        return max(20 * math.log10(rms), self.floor_db) if rms > 0 else self.floor_db

    def __call__(self, *, reference: torch.Tensor, estimate: torch.Tensor, **_: object) -> float:
        return abs(self._db(reference) - self._db(estimate))

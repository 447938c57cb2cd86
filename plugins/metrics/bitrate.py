"""Bitrate of the codes a tokenizer emits: frames/s x codebooks used x log2(codebook size)."""

from __future__ import annotations

import math
from typing import Any

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds


def bitrate_bps(frame_rate: float, num_codebooks: int, codebook_size: int) -> float:
    """Bits per second of fixed-rate codes (no entropy coding)."""
    if frame_rate <= 0 or num_codebooks <= 0 or codebook_size < 2:
        raise ValueError(
            f"invalid code layout: frame_rate={frame_rate}, codebooks={num_codebooks}, size={codebook_size}"
        )
    return float(frame_rate) * int(num_codebooks) * math.log2(int(codebook_size))


class Bitrate:
    """Bitrate in bits/s at the evaluated number of codebooks (displayed in kbps)."""

    name = "bitrate"
    meta = MetricMeta(higher_is_better=False, display="Bitrate", unit="kbps", decimals=2, display_scale=1e-3,
                      kind="system", ranked=False)  # a property of the system, never bolded as "best"
    needs = MetricNeeds(reference_audio=False)

    def __call__(self, *, tokenizer: dict[str, Any], **_: object) -> float:
        if tokenizer.get("bitrate") is not None:  # the tokenizer's own count (Tokenizer.bitrate_at), when given
            return float(tokenizer["bitrate"])
        return bitrate_bps(tokenizer["frame_rate"], tokenizer["n_q"], tokenizer["codebook_size"])


def register_metrics(register) -> None:
    register("bitrate", Bitrate)

"""Bitrate by formula (plugins/metrics/bitrate.py)."""

from __future__ import annotations

import pytest

from tokenizer_bench.plugins.metrics.bitrate import Bitrate, bitrate_bps


def test_bitrate_formula():
    # DM-Codec: 50 frames/s x 8 codebooks x log2(1024) = 4000 bit/s
    assert bitrate_bps(50, 8, 1024) == 4000.0
    # EnCodec 24 kHz at 6 kbps: 75 frames/s x 8 x 10
    assert Bitrate()(tokenizer={"frame_rate": 75.0, "n_q": 8, "codebook_size": 1024}) == 6000.0
    # fewer codebooks lower the bitrate: n_q = 1 -> 500 bit/s
    assert Bitrate()(tokenizer={"frame_rate": 50.0, "n_q": 1, "codebook_size": 1024}) == 500.0
    with pytest.raises(ValueError):
        bitrate_bps(50, 0, 1024)

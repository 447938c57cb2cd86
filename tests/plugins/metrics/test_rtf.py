"""Real-time factors by definition (plugins/metrics/rtf.py)."""

from __future__ import annotations

import pytest

from tokenizer_bench.plugins.metrics.rtf import DecodeRTF, EncodeRTF


def test_rtf_is_seconds_per_second_of_audio():
    timings = {"encode_s": 0.5, "decode_s": 0.25}
    assert EncodeRTF()(timings=timings, duration_s=2.0) == 0.25
    assert DecodeRTF()(timings=timings, duration_s=2.0) == 0.125
    with pytest.raises(ValueError):
        EncodeRTF()(timings=timings, duration_s=0.0)

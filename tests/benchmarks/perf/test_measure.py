"""benchmarks/perf/_measure.py, the one measuring module both sides of the peer comparison use."""

from __future__ import annotations

import time

import pytest


@pytest.fixture(scope="module")
def M(load_benchmark_script):
    return load_benchmark_script("perf/_measure.py")


def test_time_codec_counts_calls_and_divides_by_the_audio(M):
    calls = []

    def enc():
        calls.append("e")
        time.sleep(0.02)

    def dec():
        calls.append("d")

    res = M.time_codec(enc, dec, seconds=2.0, batch=2, min_repeats=3, min_seconds=0.0, max_repeats=3)
    assert calls == ["e"] * 3 + ["d"] * 3  # every encode before the decodes that read it
    assert len(res["encode_s"]) == 3 and min(res["encode_s"]) >= 0.02
    # real-time factor: seconds per call / (2 s x 2 items) of audio
    assert res["encode_rtf"] == pytest.approx(sorted(res["encode_s"])[1] / 4.0)
    assert set(res["phase_peak_rss"]) == {"encode", "decode"} and set(res["kernel_per_call"]) == {"encode", "decode"}


def test_fit_line_by_hand(M):
    fit = M.fit_line([1.0, 2.0, 3.0], [3.0, 5.0, 7.0])  # y = 2x + 1 exactly
    assert fit == pytest.approx({"slope": 2.0, "intercept": 1.0, "r2": 1.0})

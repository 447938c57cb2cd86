"""Real-time factors of encoding and decoding: wall-clock seconds per second of audio.

Measured by the harness around ``encode_with_side`` and ``decode`` for each utterance (after one
warm-up call per tokenizer), on whatever device the run uses; < 1 means faster than real time.
"""

from __future__ import annotations

from tokenizer_bench.core.interfaces import MetricNeeds


class _RTF:
    kind = "system"
    unit = "x"
    display_scale = 1.0
    higher_is_better = False
    needs = MetricNeeds(reference_audio=False)
    _key = ""

    def __call__(self, *, timings: dict[str, float], duration_s: float, **_: object) -> float:
        if duration_s <= 0:
            raise ValueError("utterance duration is zero")
        return float(timings[self._key]) / float(duration_s)


class EncodeRTF(_RTF):
    """Encoding real-time factor (seconds of compute per second of audio, lower is better)."""

    name = "rtf_encode"
    display = "RTF enc"
    _key = "encode_s"


class DecodeRTF(_RTF):
    """Decoding real-time factor (seconds of compute per second of audio, lower is better)."""

    name = "rtf_decode"
    display = "RTF dec"
    _key = "decode_s"


def register_metrics(register) -> None:
    register("rtf_encode", EncodeRTF)
    register("rtf_decode", DecodeRTF)

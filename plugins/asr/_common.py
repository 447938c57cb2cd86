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
work, with a :class:`MissingDependencyError` saying what to download or pass.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import MissingDependencyError


def require_packages(backend: str, *modules: str) -> None:
    """Raise :class:`MissingDependencyError` naming the pip package when a module is absent."""
    pip_names = {"faster_whisper": "faster-whisper", "transformers": "transformers", "ctranslate2": "ctranslate2"}
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pkgs = " ".join(pip_names.get(m, m) for m in missing)
        raise MissingDependencyError(f"ASR backend {backend!r} needs {', '.join(missing)}: pip install {pkgs}")


def load_hf(backend: str, model: str | Path, local_files_only: bool, loader: Callable[..., Any],
            what: str, example: str, revision: str | None = None) -> Any:
    """Call ``loader(model, ...)``; turn "not found" into a clear user error.

    ``model`` is a local folder (``save_pretrained`` layout) or a Hugging Face hub id. A hub id goes
    through :mod:`core.hub`: downloaded into the Hugging Face cache on first use, cache only when
    ``local_files_only``, ``HF_HUB_OFFLINE=1``/``--offline`` or the hub is unreachable (fast). We
    never substitute another model: if this one cannot be had, the run stops and says how to get it.
    """
    path = Path(str(model)).expanduser()
    looks_local = path.is_absolute() or str(model).startswith((".", "~")) or path.exists()
    if looks_local and not path.is_dir():
        raise MissingDependencyError(f"ASR backend {backend!r}: model folder {str(path)!r} does not exist")
    source = str(path) if looks_local else str(model)
    hint = (f"or pass a local folder with --asr-option model=DIR, or choose an offline backend, e.g. {example}")
    if looks_local:
        try:
            return loader(source, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise MissingDependencyError(
                f"ASR backend {backend!r}: cannot load {what} from {source!r} ({exc}). "
                "Pass a folder written by save_pretrained."
            ) from exc
    if local_files_only:
        try:
            return loader(source, revision=revision, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise hub.HubUnavailableError(
                f"ASR backend {backend!r}: {what} {source!r} is not available locally (local_files_only=true). "
                f"Download it where the hub is reachable (`{hub.download_command(source, revision=revision)}`), "
                f"{hint}."
            ) from exc
    return hub.from_pretrained(loader, source, revision=revision, what=f"ASR backend {backend!r} ({what})", hint=hint)

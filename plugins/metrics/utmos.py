"""UTMOS (Saeki et al., 2022; UTMOS22 strong learner): a no-reference MOS predictor, from the hub.

Default checkpoint: ``balacoon/utmos`` (file ``utmos.jit``, about 413 MB), a TorchScript export of
the UTMOS22 strong learner published by Balacoon. TorchScript is loaded with ``torch.jit.load``:
no repository code is imported or executed (unlike ``torch.hub.load("tarepan/SpeechMOS", ...)``,
which runs the repo's Python; that route is deliberately not used). The file is fetched through
``core/hub.py`` — downloaded on first use into the Hugging Face cache, cache-only with
``HF_HUB_OFFLINE=1``/``--offline``, and a clear error naming ``hf download balacoon/utmos
utmos.jit`` when it cannot be had. ``model=`` also takes a local ``utmos.jit`` file or a folder
holding one.

Calling contract (from the publisher's own evaluator, ``speech_gen_eval`` by Balacoon, and
sglang-omni's UTMOS scorer): a batch ``[B, N]`` of **int16** PCM samples at 16 kHz in, one MOS
per item out (1..5). We quantise the float signal as ``round(x * 32767)`` clipped to int16 — the
samples a 16-bit WAV of the reconstruction would hold. This contract has not been run against the
real checkpoint here (the hub is unreachable on the development machines); the tests check our
side of it with a small TorchScript stand-in.

UTMOS judges the reconstruction alone; the identity tokenizer scores what the original scores.
The offline stand-in for a MOS column is DNSMOS (``dnsmos_ovrl``, :mod:`.dnsmos`), chosen by name.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from tokenizer_bench.core import hub
from tokenizer_bench.core.audio import resample
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._shared import ResultCache, signal_key

SAMPLE_RATE = 16000
DEFAULT_MODEL = "balacoon/utmos"
DEFAULT_FILE = "utmos.jit"
_CACHE = ResultCache(size=8)


def resolve_checkpoint(model: str | Path, filename: str = DEFAULT_FILE, revision: str | None = None) -> Path:
    """The local TorchScript file for ``model`` (file, folder, or hub id fetched through core/hub)."""
    raw = str(model)
    path = Path(raw).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        inner = path / filename
        if not inner.is_file():
            raise ConfigError(f"utmos: folder {str(path)!r} has no {filename!r}")
        return inner
    if not hub.looks_like_repo_id(raw):
        raise ConfigError(f"utmos: model {raw!r} is neither an existing file/folder nor a hub id")
    (found,) = hub.fetch_files(raw, [filename], revision=revision, what="metric 'utmos' (UTMOS22 TorchScript)",
                               hint="or pass model=PATH/TO/utmos.jit; offline, dnsmos_ovrl is the MOS stand-in")
    return found


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as int16 PCM: round(x * 32767), clipped."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


class UTMOS:
    """UTMOS22 predicted MOS of the reconstruction (1..5, higher is better)."""

    name = "utmos"
    meta = MetricMeta(higher_is_better=True, display="UTMOS", decimals=3, kind="audio")

    def __init__(self, model: str | Path = DEFAULT_MODEL, filename: str = DEFAULT_FILE, device: str = "cpu",
                 revision: str | None = None) -> None:
        from tokenizer_bench.plugins.teachers._common import resolve_device

        self.model_id = str(model)
        self.filename = str(filename)
        self.revision = revision
        self.device = str(resolve_device(device))
        self.needs = MetricNeeds(reference_audio=True, sample_rate=SAMPLE_RATE, gpu=self.device.startswith("cuda"))
        self.checkpoint = resolve_checkpoint(model, self.filename, revision)  # a missing model stops here
        self._net = self._load()

    def _load(self):
        import torch

        try:
            with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript; the export is TorchScript
                warnings.simplefilter("ignore", DeprecationWarning)
                net = torch.jit.load(str(self.checkpoint), map_location=self.device)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"utmos: {str(self.checkpoint)!r} is not a loadable TorchScript file ({first})") from exc
        return net.eval()

    def describe(self) -> dict:
        return {"model": self.model_id, "file": self.filename, "revision": self.revision}

    def score(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
        """Predicted MOS of one mono signal (cached by content)."""
        import torch

        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if x.size == 0 or not np.isfinite(x).all():
            raise ValueError("empty or non-finite signal")
        if int(sample_rate) != SAMPLE_RATE:
            x = resample(x, int(sample_rate), SAMPLE_RATE).numpy().astype(np.float64)
        if self._net is None:  # unpickled in a metric worker
            self._net = self._load()

        def compute() -> float:
            pcm = torch.from_numpy(to_int16(x)).unsqueeze(0).to(self.device)
            with torch.inference_mode():
                out = self._net(pcm)
            values = torch.as_tensor(out).detach().float().reshape(-1).cpu()
            if values.numel() != 1:
                raise ValueError(f"UTMOS model returned {values.numel()} values for one utterance, expected 1")
            return float(values[0])

        return _CACHE.get_or_compute(signal_key(x, SAMPLE_RATE, str(self.checkpoint)), compute)

    def __call__(self, *, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        return self.score(np.asarray(estimate), int(sample_rate))

    def __getstate__(self) -> dict:  # TorchScript modules do not pickle; workers reload the file
        state = dict(self.__dict__)
        state["_net"] = None
        return state


def register_metrics(register) -> None:
    register("utmos", UTMOS)

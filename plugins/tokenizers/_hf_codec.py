"""What the wrappers of today's published codecs share: loading, 16 kHz interface, bounded memory.

``dac``, ``mimi``, ``xcodec``, ``xcodec2``, ``neucodec`` (transformers classes) and ``snac`` (the
PyPI package) differ only in how one batch at the model's own rate becomes codes and back. This
module holds everything around that, once:

* **Loading** (:func:`load_hf_model`): a local ``save_pretrained`` folder or a hub id, downloaded
  into the Hugging Face cache on first use through :mod:`core.hub` (``revision`` pins a commit;
  ``HF_HUB_OFFLINE=1`` / ``--offline``: cache only), exactly as ``encodec`` does.
* **16 kHz in and out**: the project works at 16 kHz; a model at another rate gets its input
  resampled with the project's one resampler (:func:`core.audio.resample`, libsoxr HQ, CPU,
  deterministic) and its output resampled back. Codes are the model's own, at its frame rate.
* **Bounded memory** (:mod:`._chunking`): batches holding more than ``max_batch_seconds`` of audio
  run in exact sub-batches; inputs longer than ``chunk_seconds`` are encoded and decoded in
  windows with ``chunk_context_seconds`` of real context each side, in the model's own sample
  domain (so the hop is a whole number of samples even where 16 kHz would make it fractional).
  For convolutional codecs that is exact away from the receptive field; codecs with attention or
  LSTMs (Mimi, X-Codec2, NeuCodec) can give other codes in a few frames near window edges.
* **Decoded length**: every wrapper returns exactly ``T x hop`` samples at the model's output
  rate for ``T`` frames (some decoders give a few samples less: zero-padded at the end), so
  windowed decoding can cut at frame boundaries.

A subclass sets ``name``, the rates, ``hop``/``out_hop`` (model samples per frame, in and out),
``num_codebooks``/``codebook_size``/``frame_rate``, and implements :meth:`_encode_native` and
:meth:`_decode_native`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from tokenizer_bench.core import hub
from tokenizer_bench.core.audio import resample
from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.core.io import write_json_atomic
from tokenizer_bench.core.tokenizer import SideInfo, Tokenizer, read_saved_options

from tokenizer_bench.plugins.tokenizers._chunking import batch_groups, decode_in_windows, encode_in_windows

SAMPLE_RATE = 16000


def load_hf_model(model_class: Any, checkpoint: str | Path, revision: str | None, what: str, cli_name: str) -> Any:
    """``model_class.from_pretrained`` from a local folder (HF layout) or a hub id through :mod:`core.hub`."""
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(
                f"{what} checkpoint directory {path} has no config.json (expected the Hugging Face layout: "
                "config.json + model.safetensors, as written by save_pretrained)"
            )
        if revision is not None:
            raise ConfigError(f"{cli_name}: revision={revision!r} applies to hub ids; {path} is a local folder")
        try:
            return model_class.from_pretrained(str(path))
        except Exception as exc:
            raise CheckpointError(f"cannot load {what} from {path}: {exc}") from exc
    if path.exists():
        raise CheckpointError(f"{what} checkpoint must be a directory or a hub id; {path} is a file")
    if not hub.looks_like_repo_id(str(checkpoint)):
        raise CheckpointError(f"{what} checkpoint {str(checkpoint)!r}: no such directory, and not a hub id "
                              "(owner/name)")
    return hub.from_pretrained(model_class.from_pretrained, str(checkpoint), revision=revision, what=what,
                               hint=f"or pass checkpoint=DIR (CLI: --tokenizers {cli_name}:DIR)")


def published_checkpoint(name: str, model: str | None, checkpoint: str | Path | None, models: dict[str, str],
                         default: str) -> str | Path:
    """The checkpoint a wrapper loads: the hub id of a published ``model`` (a key of ``models``), else
    ``checkpoint``, else ``default``; both given, or an unknown model, is a :class:`ConfigError`."""
    if model is not None:
        if model not in models:
            raise ConfigError(f"{name}: model must be one of {', '.join(models)}, got {model!r}")
        if checkpoint is not None:
            raise ConfigError(f"{name}: pass either model= (a published model) or checkpoint=, not both")
        return models[model]
    return default if checkpoint is None else checkpoint


def saved_options(checkpoint: str | Path, config_file: str, name: str) -> dict:
    """Options a wrapper wrote beside the weights (``{}`` for a hub id or an official folder)."""
    return read_saved_options(Path(checkpoint) / config_file, name)


class HFCodecTokenizer(Tokenizer):
    """Shared frame of the published-codec wrappers (see the module docstring)."""

    #: File written beside the weights by :meth:`save_pretrained` holding the wrapper's options.
    config_file: ClassVar[str] = ""

    model: Any
    model_rate: int  # sample rate the encoder takes
    output_rate: int  # sample rate the decoder gives
    hop: int  # encoder input samples per frame (at model_rate)
    out_hop: int  # decoder output samples per frame (at output_rate)
    #: Windows start at multiples of this many frames (SNAC: its coarsest stride / attention window).
    frame_multiple: int = 1
    #: Zeros appended to each window before encoding it, for codecs that give fewer than
    #: ``ceil(M / hop)`` frames (NeuCodec keeps the shorter of two branches); only the window's own
    #: frames are kept, so the padding only touches frames that are cut off.
    window_pad_samples: int = 0

    def _init_runtime(self, n_q: int | None, max_q: int, chunk_seconds: float | None,
                      chunk_context_seconds: float, max_batch_seconds: float | None) -> None:
        for key, value in (("chunk_seconds", chunk_seconds), ("max_batch_seconds", max_batch_seconds)):
            if value is not None and not float(value) > 0:
                raise ConfigError(f"{self.name}: {key} must be > 0 or null, got {value!r}")
        if not float(chunk_context_seconds) >= 0:
            raise ConfigError(f"{self.name}: chunk_context_seconds must be >= 0, got {chunk_context_seconds!r}")
        n = max_q if n_q is None else int(n_q)
        if not 1 <= n <= max_q:
            raise ConfigError(f"{self.name}: n_q must be between 1 and {max_q} (the model's codebooks), got {n_q}")
        self.num_codebooks = n
        self.sample_rate = SAMPLE_RATE
        self.chunk_seconds = None if chunk_seconds is None else float(chunk_seconds)
        self.chunk_context_seconds = float(chunk_context_seconds)
        self.max_batch_seconds = None if max_batch_seconds is None else float(max_batch_seconds)

    # ------------------------------------------------------------------ subclass hooks
    def _encode_native(self, x: torch.Tensor, n_q: int) -> torch.Tensor:
        """``x [B, 1, M]`` at :attr:`model_rate` -> codes ``[B, n_q, T]``."""
        raise NotImplementedError

    def _decode_native(self, codes: torch.Tensor) -> torch.Tensor:
        """codes ``[B, Q, T]`` (long, on the model's device) -> ``[B, 1, M']`` at :attr:`output_rate`."""
        raise NotImplementedError

    def options(self) -> dict:
        """The wrapper's own options, saved beside the weights."""
        return {"n_q": self.num_codebooks}

    # ------------------------------------------------------------------ interface
    @torch.inference_mode()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``wav [B, 1, N]`` at 16 kHz -> codes ``[B, n_q, T]`` at :attr:`frame_rate`."""
        n = self.check_n_q(n_q)
        x = resample(self.check_wav(wav), self.sample_rate, self.model_rate).to(self.device)

        def one(part: torch.Tensor) -> torch.Tensor:
            return self._encode_native(part, n).long()

        def windowed(run: Callable, part: torch.Tensor, chunk: int, context: int) -> torch.Tensor:
            def fitted(piece: torch.Tensor) -> torch.Tensor:  # ceil(M / hop) frames, as _chunking counts them
                frames = -(-piece.shape[-1] // self.hop)
                return run(torch.nn.functional.pad(piece, (0, self.window_pad_samples)))[..., :frames]
            return encode_in_windows(fitted, part, self.hop, chunk, context)

        return self._bounded(one, x, x.shape[-1] / self.model_rate, windowed)

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor, side: SideInfo | None = None) -> torch.Tensor:
        """Codes ``[B, Q, T]`` (``Q <= num_codebooks``) -> ``wav [B, 1, ~T / frame_rate s]`` at 16 kHz."""
        self.check_codes(codes)
        codes = codes.to(device=self.device, dtype=torch.long)

        def one(part: torch.Tensor) -> torch.Tensor:
            return self._fit_length(self._decode_native(part), part.shape[-1] * self.out_hop)

        def windowed(run: Callable, part: torch.Tensor, chunk: int, context: int) -> torch.Tensor:
            return decode_in_windows(run, part, self.out_hop, chunk, context)

        audio = self._bounded(one, codes, codes.shape[-1] / self.frame_rate, windowed)
        return resample(audio.float(), self.output_rate, self.sample_rate)

    @staticmethod
    def _fit_length(audio: torch.Tensor, n: int) -> torch.Tensor:
        audio = audio.reshape(audio.shape[0], 1, -1)
        if audio.shape[-1] >= n:
            return audio[..., :n]
        return torch.nn.functional.pad(audio, (0, n - audio.shape[-1]))

    def _bounded(self, run: Callable, x: torch.Tensor, seconds: float, in_windows: Callable) -> torch.Tensor:
        """``run`` over sub-batches, and over windows when an input is longer than ``chunk_seconds``."""
        chunk = context = 0
        if self.chunk_seconds is not None and seconds > self.chunk_seconds:
            m = self.frame_multiple
            chunk = m * max(1, math.ceil(self.chunk_seconds * self.frame_rate / m))
            context = m * math.ceil(self.chunk_context_seconds * self.frame_rate / m)
        per_call = (min(seconds, self.chunk_seconds + 2 * self.chunk_context_seconds)
                    if chunk and self.chunk_seconds is not None else seconds)
        outs = []
        for group in batch_groups(x.shape[0], per_call, self.max_batch_seconds):
            part = x[group]
            outs.append(in_windows(run, part, chunk, context) if chunk else run(part))
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    # ------------------------------------------------------------------ plumbing
    def save_pretrained(self, directory: str | Path) -> None:
        """Hugging Face layout (``config.json`` + weights) plus the wrapper's options."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(directory))
        write_json_atomic(directory / self.config_file, {"tokenizer": self.name, **self.options()})

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "HFCodecTokenizer":
        raise NotImplementedError  # each wrapper's factory loads (it knows its model class)

    def to(self, device: torch.device | str) -> "HFCodecTokenizer":
        self.model.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def describe(self) -> dict:
        info = super().describe()
        info.update(model_sample_rate=self.model_rate, model_output_rate=self.output_rate,
                    num_parameters=sum(p.numel() for p in self.model.parameters()))
        return info


__all__ = ["HFCodecTokenizer", "SAMPLE_RATE", "load_hf_model", "saved_options"]

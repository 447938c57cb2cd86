"""EnCodec (Défossez et al., 2022) through ``transformers.EncodecModel``: tokenizer ``encodec``.

The paper's baseline is ``facebook/encodec_24khz`` at 6 kbps: 8 codebooks of 1024 codes at
75 frames/s. The project works at 16 kHz, so this wrapper takes and returns 16 kHz audio and
resamples to the model's rate inside (16k -> 24k before encoding, 24k -> 16k after decoding).
``frame_rate`` and ``bitrate`` are the model's (75 Hz, 6000 bit/s): codes are what the model
produces; only the waveform interface is at 16 kHz.

Resampling is the project's one resampler, :func:`tokenizer_bench.core.audio.resample` (libsoxr,
"HQ" quality, on the CPU): deterministic (same input, same output, on every device), and no
torchaudio. It is not differentiable, which a frozen baseline does not need.

Only single-chunk, unnormalised mono models are supported (``chunk_length_s=None``,
``normalize=False``, ``audio_channels=1``, as the 24 kHz model): for the others the codes alone
do not determine the audio (per-chunk scales would be side information).

``checkpoint``: a local directory in the Hugging Face ``save_pretrained`` layout
(``config.json`` + ``model.safetensors``) or a hub id (default ``facebook/encodec_24khz``),
downloaded into the Hugging Face cache on first use through :mod:`core.hub` (``revision`` pins a
commit; ``HF_HUB_OFFLINE=1`` or ``--offline``: cache only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokenizer_bench.core.audio import resample
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.io import write_json_atomic
from tokenizer_bench.core.tokenizer import SideInfo, Tokenizer, read_saved_options
from tokenizer_bench.plugins.tokenizers._hf_codec import load_hf_model

HUB_ID = "facebook/encodec_24khz"
CONFIG_FILE = "encodec_config.json"
SAMPLE_RATE = 16000


def _load_model(checkpoint: str | Path, revision: str | None = None):
    from transformers import EncodecModel

    return load_hf_model(EncodecModel, checkpoint, revision, "EnCodec weights", "encodec")


class EncodecTokenizer(Tokenizer):
    """A ``transformers.EncodecModel`` at a fixed bandwidth behind the project's interface."""

    name = "encodec"

    def __init__(self, model: Any, bandwidth: float = 6.0) -> None:
        cfg = model.config
        if cfg.audio_channels != 1 or cfg.chunk_length_s is not None or cfg.normalize:
            raise ConfigError(
                "encodec: only mono, single-chunk, unnormalised models are supported (e.g. "
                f"{HUB_ID}); this one has audio_channels={cfg.audio_channels}, "
                f"chunk_length_s={cfg.chunk_length_s}, normalize={cfg.normalize}"
            )
        bandwidth = float(bandwidth)
        if bandwidth not in [float(b) for b in cfg.target_bandwidths]:
            raise ConfigError(
                f"encodec: bandwidth {bandwidth} kbps is not one of the model's target bandwidths "
                f"{list(cfg.target_bandwidths)}"
            )
        self.model = model.eval()
        self.bandwidth = bandwidth
        self.model_rate = int(cfg.sampling_rate)
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = cfg.frame_rate
        self.num_codebooks = model.quantizer.get_num_quantizers_for_bandwidth(bandwidth)
        self.codebook_size = int(cfg.codebook_size)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, checkpoint: str | Path | None = None, bandwidth: float | None = None,
             revision: str | None = None) -> "EncodecTokenizer":
        checkpoint = HUB_ID if checkpoint is None else checkpoint
        saved = _read_saved_config(checkpoint)
        bw = bandwidth if bandwidth is not None else saved.get("bandwidth", 6.0)
        return cls(_load_model(checkpoint, revision), bandwidth=bw)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "EncodecTokenizer":
        return cls.load(directory, **options)

    def save_pretrained(self, directory: str | Path) -> None:
        """Hugging Face layout (``config.json`` + ``model.safetensors``) plus the bandwidth."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(directory))
        write_json_atomic(directory / CONFIG_FILE, {"tokenizer": self.name, "bandwidth": self.bandwidth})

    def to(self, device: torch.device | str) -> "EncodecTokenizer":
        self.model.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ interface
    @torch.inference_mode()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``wav [B, 1, N]`` at 16 kHz -> codes ``[B, n_q, ceil(1.5 N / 320)]`` (75 Hz)."""
        n = self.check_n_q(n_q)
        x = resample(self.check_wav(wav), self.sample_rate, self.model_rate).to(self.device)
        out = self.model.encode(x, bandwidth=self.bandwidth, return_dict=True)
        codes = out.audio_codes  # [chunks=1, B, Q, T]
        return codes[0, :, :n].contiguous()

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor, side: SideInfo | None = None) -> torch.Tensor:
        """Codes ``[B, Q, T]`` (``Q <= num_codebooks``) -> ``wav [B, 1, N']`` at 16 kHz."""
        self.check_codes(codes)
        codes = codes.to(device=self.device, dtype=torch.long)
        audio = self.model.decode(codes.unsqueeze(0), [None], return_dict=True).audio_values
        return resample(audio, self.model_rate, self.sample_rate)

    @torch.inference_mode()
    def code_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """Each level's codebook vector ``[B, Q, 128, T]`` (transformers' ``quantizer.layers[i].decode``)."""
        self.check_codes(codes)
        codes = codes.to(device=self.device, dtype=torch.long)
        layers = self.model.quantizer.layers
        return torch.stack([layers[i].decode(codes[:, i]) for i in range(codes.shape[1])], dim=1).float()

    def describe(self) -> dict:
        info = super().describe()
        info.update(bandwidth_kbps=self.bandwidth, model_sample_rate=self.model_rate)
        return info


def _read_saved_config(checkpoint: str | Path) -> dict:
    return read_saved_options(Path(checkpoint) / CONFIG_FILE, "encodec")


def encodec(checkpoint: str | Path | None = None, bandwidth: float | None = None,
            revision: str | None = None) -> EncodecTokenizer:
    """EnCodec (transformers): 16 kHz in/out (resampled to 24 kHz inside), 75 Hz, 6 kbps by default."""
    return EncodecTokenizer.load(checkpoint, bandwidth=bandwidth, revision=revision)


def register_tokenizers(register) -> None:
    register("encodec", encodec)


__all__ = ["EncodecTokenizer", "encodec", "HUB_ID"]

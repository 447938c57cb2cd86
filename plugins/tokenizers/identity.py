"""A pass-through "tokenizer": its codes are the 16-bit PCM samples themselves.

Useful as a sanity row in the benchmark: reconstruction equals the input up to 16-bit
quantisation (exact for 16-bit sources such as LibriSpeech FLAC), so STOI is 1, SI-SDR is at its
cap and ViSQOL equals the identical-signal score.

Code representation: one codebook (``Q = 1``) at ``frame_rate == sample_rate``; a sample ``x``
in [-1, 1) becomes the integer ``round(x * 32768) + 32768`` in ``[0, 65535]`` (offset binary, so
codes are valid non-negative codebook indices of a 65536-entry codebook). Decoding inverts this.
Samples outside [-1, 1 - 2^-15] are clipped, exactly as writing a 16-bit WAV would. Bitrate is
``sample_rate x 16`` bits/s (256 kbps at 16 kHz), the bitrate of 16-bit PCM.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from tokenizer_bench.core.errors import CheckpointError
from tokenizer_bench.core.io import read_json_object, write_json_atomic
from tokenizer_bench.core.tokenizer import SideInfo, Tokenizer

_SCALE = 32768
CONFIG_NAME = "config.json"


class IdentityTokenizer(Tokenizer):
    """Pass-through tokenizer: codes are offset-binary 16-bit PCM samples (sanity baseline)."""

    name: ClassVar[str] = "identity"

    def __init__(self, sample_rate: int = 16000) -> None:
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.frame_rate = float(self.sample_rate)
        self.num_codebooks = 1
        self.codebook_size = 2**16

    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        self.check_n_q(n_q)
        pcm = torch.round(self.check_wav(wav).to(torch.float64) * _SCALE).clamp(-_SCALE, _SCALE - 1)
        return (pcm + _SCALE).to(torch.int64)

    def decode(self, codes: torch.Tensor, side: SideInfo | None = None) -> torch.Tensor:
        if codes.dim() != 3 or codes.shape[1] != 1:
            raise ValueError(f"expected codes [B,1,T], got shape {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError("identity codes must lie in [0, 65535]")
        return ((codes - _SCALE).to(torch.float32)) / _SCALE

    def save_pretrained(self, directory: str | Path) -> None:
        write_json_atomic(Path(directory) / CONFIG_NAME, {"name": self.name, "sample_rate": self.sample_rate})

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options) -> "IdentityTokenizer":
        cfg_path = Path(directory) / CONFIG_NAME
        cfg = read_json_object(cfg_path, "identity tokenizer config (written by save_pretrained)")
        if cfg.get("name") != cls.name:
            raise CheckpointError(f"{cfg_path}: 'name' is {cfg.get('name')!r}, expected 'identity'")
        return cls(sample_rate=options.get("sample_rate", cfg.get("sample_rate", 16000)))


def build_identity(checkpoint: str | Path | None = None, sample_rate: int | None = None) -> IdentityTokenizer:
    """Pass-through tokenizer (16-bit PCM samples as codes), a sanity row for benchmarks."""
    if checkpoint is not None:
        opts = {} if sample_rate is None else {"sample_rate": sample_rate}
        return IdentityTokenizer.from_pretrained(checkpoint, **opts)
    return IdentityTokenizer(sample_rate=16000 if sample_rate is None else sample_rate)


def register_tokenizers(register) -> None:
    register("identity", build_identity)

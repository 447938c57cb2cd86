"""Mimi (Défossez et al., 2024, the Moshi codec) through ``transformers.MimiModel``: tokenizer ``mimi``.

``kyutai/mimi``: 24 kHz, 12.5 frames/s (hop 1920), 32 codebooks of 2048 (one semantic, distilled
from WavLM, then 31 acoustic residual levels). ``n_q`` (1-32) is the depth the tokenizer exposes;
the default 8 is what Moshi uses and what codec tables report (8 x 12.5 x 11 bit = 1.1 kbps).
``encode(n_q=k)`` gives the first ``k`` codebooks, equal to ``MimiModel.encode(num_quantizers=k)``.

16 kHz in and out: the input is resampled to 24 kHz and the output back to 16 kHz with the
project's resampler (``_hf_codec``). The encoder is causal (convolutions and a sliding-window
transformer) and has no batch statistics, so batched and one-at-a-time codes are the same; the
whole input is one streaming-free call (``use_streaming=False``), windows only above
``chunk_seconds`` (transformer context crosses window edges: a few edge frames may differ).
Weights: CC-BY-4.0 (the model card of kyutai/mimi); code: MIT (kyutai-labs/moshi, Python).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokenizer_bench.plugins.tokenizers._hf_codec import HFCodecTokenizer, load_hf_model, saved_options

HUB_ID = "kyutai/mimi"
CONFIG_FILE = "mimi_tokenizer.json"
DEFAULT_N_Q = 8


class MimiTokenizer(HFCodecTokenizer):
    """A ``transformers.MimiModel`` behind the project's 16 kHz interface."""

    name = "mimi"
    config_file = CONFIG_FILE

    def __init__(self, model: Any, n_q: int | None = DEFAULT_N_Q, chunk_seconds: float | None = 60.0,
                 chunk_context_seconds: float = 2.0, max_batch_seconds: float | None = 60.0) -> None:
        cfg = model.config
        self.model = model.eval()
        self.model_rate = self.output_rate = int(cfg.sampling_rate)
        self.frame_rate = float(cfg.frame_rate)
        self.hop = self.out_hop = round(self.model_rate / self.frame_rate)
        self.codebook_size = int(cfg.codebook_size)
        max_q = int(cfg.num_quantizers)
        self._init_runtime(min(DEFAULT_N_Q, max_q) if n_q is None else n_q, max_q, chunk_seconds,
                           chunk_context_seconds, max_batch_seconds)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "MimiTokenizer":
        return mimi(directory, **options)

    def _encode_native(self, x: torch.Tensor, n_q: int) -> torch.Tensor:
        return self.model.encode(x, num_quantizers=n_q, use_streaming=False).audio_codes

    def _decode_native(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes).audio_values


def mimi(checkpoint: str | Path | None = None, n_q: int | None = None, revision: str | None = None,
         **runtime: Any) -> MimiTokenizer:
    """Mimi (transformers): 16 kHz in/out (24 kHz inside), 12.5 Hz, 8 of 32 codebooks by default."""
    checkpoint = HUB_ID if checkpoint is None else checkpoint
    saved = saved_options(checkpoint, CONFIG_FILE, "mimi")
    from transformers import MimiModel

    loaded = load_hf_model(MimiModel, checkpoint, revision, "Mimi weights", "mimi")
    return MimiTokenizer(loaded, n_q=n_q if n_q is not None else saved.get("n_q"), **runtime)


def register_tokenizers(register) -> None:
    register("mimi", mimi)


__all__ = ["MimiTokenizer", "mimi", "HUB_ID"]

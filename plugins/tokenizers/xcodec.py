"""X-Codec (Ye et al., 2024) through ``transformers.XcodecModel``: tokenizer ``xcodec``.

``hf-audio/xcodec-hubert-librispeech``: 16 kHz, 50 frames/s (hop 320), up to 8 residual codebooks
of 1024 over a HuBERT (semantic) + DAC-style (acoustic) latent; the published bandwidths 0.5 / 1
/ 1.5 / 2 / 4 kbps are 1 / 2 / 3 / 4 / 8 codebooks. ``n_q`` (1-8, default 8) is the depth the
tokenizer exposes; ``encode(n_q=k)`` is the first ``k`` codebooks of the full-bandwidth encoding,
which for the bandwidths above equals ``XcodecModel.encode(bandwidth=...)`` (residual levels do
not depend on later ones), and gives the in-between depths (5-7) the model has but names no
bandwidth for.

The model runs at 16 kHz: no resampling. Examples in a batch are independent (HuBERT here has no
batch statistics and takes no padding mask at equal lengths), so batched and one-at-a-time codes
are the same. Licences: see the model card and the zhenye234/xcodec repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokenizer_bench.plugins.tokenizers._hf_codec import HFCodecTokenizer, load_hf_model, saved_options

HUB_ID = "hf-audio/xcodec-hubert-librispeech"
CONFIG_FILE = "xcodec_tokenizer.json"


class XcodecTokenizer(HFCodecTokenizer):
    """A ``transformers.XcodecModel`` behind the project's interface."""

    name = "xcodec"
    config_file = CONFIG_FILE

    def __init__(self, model: Any, n_q: int | None = None, chunk_seconds: float | None = 60.0,
                 chunk_context_seconds: float = 2.0, max_batch_seconds: float | None = 60.0) -> None:
        cfg = model.config
        self.model = model.eval()
        self.model_rate = self.output_rate = int(cfg.sample_rate)
        self.hop = self.out_hop = int(cfg.hop_length)
        self.frame_rate = self.model_rate / self.hop
        self.codebook_size = int(cfg.codebook_size)
        self._init_runtime(n_q, int(cfg.num_quantizers), chunk_seconds, chunk_context_seconds, max_batch_seconds)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "XcodecTokenizer":
        return xcodec(directory, **options)

    def _encode_native(self, x: torch.Tensor, n_q: int) -> torch.Tensor:
        top = self.model.config.target_bandwidths[-1]
        return self.model.encode(x, bandwidth=top, return_dict=True).audio_codes[:, :n_q]

    def _decode_native(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes, return_dict=True).audio_values


def xcodec(checkpoint: str | Path | None = None, n_q: int | None = None, revision: str | None = None,
           **runtime: Any) -> XcodecTokenizer:
    """X-Codec (transformers): 16 kHz, 50 Hz, 1-8 codebooks of 1024 (default 8 = 4 kbps)."""
    checkpoint = HUB_ID if checkpoint is None else checkpoint
    saved = saved_options(checkpoint, CONFIG_FILE, "xcodec")
    from transformers import XcodecModel

    loaded = load_hf_model(XcodecModel, checkpoint, revision, "X-Codec weights", "xcodec")
    return XcodecTokenizer(loaded, n_q=n_q if n_q is not None else saved.get("n_q"), **runtime)


def register_tokenizers(register) -> None:
    register("xcodec", xcodec)


__all__ = ["XcodecTokenizer", "xcodec", "HUB_ID"]

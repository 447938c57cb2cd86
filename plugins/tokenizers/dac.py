"""DAC, the Descript Audio Codec (Kumar et al., 2023), through ``transformers.DacModel``: tokenizer ``dac``.

Three published models, chosen by ``model`` (or by a hub id / folder as ``checkpoint``):

========  ======================  =====================  =========================  ==========
model     hub id                  rate / hop             codebooks (1024 entries)   full rate
========  ======================  =====================  =========================  ==========
16khz     descript/dac_16khz      16 kHz / 320 = 50 Hz   12                         6 kbps
24khz     descript/dac_24khz      24 kHz / 320 = 75 Hz   32                         24 kbps
44khz     descript/dac_44khz      44.1 kHz / 512 = 86 Hz 9                          7.75 kbps
========  ======================  =====================  =========================  ==========

16 kHz in and out: the 24 and 44.1 kHz models get their input resampled up and their output
resampled back with the project's resampler (``_hf_codec``); the 16 kHz model needs none.
``n_q`` (1 to the model's codebooks, default all) is the residual depth the tokenizer exposes;
``encode(n_q=k)`` gives the first ``k`` codebooks, which are what ``DacModel.encode(n_quantizers=k)``
gives (residual quantisation: the first levels do not depend on the later ones).

As the original ``DAC.preprocess`` and ``DacFeatureExtractor``, the input is zero-padded on the
right to a multiple of the hop, so ``N`` samples give ``ceil(N / hop)`` frames. Examples in a
batch are independent (no batch statistics): batched and one-at-a-time codes are the same.
Weights and code: MIT (descript-audio-codec).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokenizer_bench.plugins.tokenizers._hf_codec import (
    HFCodecTokenizer,
    load_hf_model,
    published_checkpoint,
    saved_options,
)

MODELS = {"16khz": "descript/dac_16khz", "24khz": "descript/dac_24khz", "44khz": "descript/dac_44khz"}
HUB_ID = MODELS["16khz"]
CONFIG_FILE = "dac_tokenizer.json"


class DacTokenizer(HFCodecTokenizer):
    """A ``transformers.DacModel`` behind the project's 16 kHz interface."""

    name = "dac"
    config_file = CONFIG_FILE

    def __init__(self, model: Any, n_q: int | None = None, chunk_seconds: float | None = 60.0,
                 chunk_context_seconds: float = 2.0, max_batch_seconds: float | None = 60.0) -> None:
        cfg = model.config
        self.model = model.eval()
        self.model_rate = self.output_rate = int(cfg.sampling_rate)
        self.hop = self.out_hop = int(cfg.hop_length)
        self.frame_rate = self.model_rate / self.hop
        self.codebook_size = int(cfg.codebook_size)
        self._init_runtime(n_q, int(cfg.n_codebooks), chunk_seconds, chunk_context_seconds, max_batch_seconds)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "DacTokenizer":
        return dac(directory, **options)

    def _encode_native(self, x: torch.Tensor, n_q: int) -> torch.Tensor:
        pad = -x.shape[-1] % self.hop
        x = torch.nn.functional.pad(x, (0, pad))
        return self.model.encode(x, n_quantizers=n_q, return_dict=True).audio_codes[:, :n_q]

    def _decode_native(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(audio_codes=codes, return_dict=True).audio_values

    @torch.inference_mode()
    def code_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """Each level's code vector after its output projection ``[B, Q, D, T]`` (their sum is the latent)."""
        self.check_codes(codes)
        codes = codes.to(device=self.device, dtype=torch.long)
        layers = self.model.quantizer.quantizers
        vectors = []
        for i in range(codes.shape[1]):
            q = layers[i]
            vectors.append(q.out_proj(q.codebook(codes[:, i]).transpose(1, 2)))
        return torch.stack(vectors, dim=1).float()


def dac(checkpoint: str | Path | None = None, model: str | None = None, n_q: int | None = None,
        revision: str | None = None, **runtime: Any) -> DacTokenizer:
    """DAC (transformers): ``model`` 16khz (default), 24khz or 44khz, or ``checkpoint`` = hub id / folder."""
    checkpoint = published_checkpoint("dac", model, checkpoint, MODELS, HUB_ID)
    saved = saved_options(checkpoint, CONFIG_FILE, "dac")
    from transformers import DacModel

    loaded = load_hf_model(DacModel, checkpoint, revision, "DAC weights", "dac")
    return DacTokenizer(loaded, n_q=n_q if n_q is not None else saved.get("n_q"), **runtime)


def register_tokenizers(register) -> None:
    register("dac", dac)


__all__ = ["DacTokenizer", "dac", "HUB_ID", "MODELS"]

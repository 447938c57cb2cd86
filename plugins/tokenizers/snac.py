"""SNAC, the Multi-Scale Neural Audio Codec (Siuzdak et al., 2024), from the PyPI package ``snac``: tokenizer ``snac``.

``hubertsiuzdak/snac_24khz`` (speech; default): 24 kHz, hop 512, three residual codebooks of 4096
at three temporal resolutions -- strides 4, 2, 1 over the finest rate of 24000 / 512 = 46.875
frames/s, i.e. 11.7, 23.4 and 46.9 codes/s: 82 codes/s x 12 bit = 0.98 kbps. ``model`` also takes
``32khz`` and ``44khz`` (general audio, 4 codebooks).

**Codes as ``[B, Q, T]``.** ``T`` is the finest stream's frame count (``frame_rate`` = the finest
rate); row ``q`` holds stream ``q`` (coarsest first) with each of its codes repeated
``stride_q`` times, so every row is aligned in time and ``codes[:, q, ::stride_q]`` is the
package's stream ``q``. :meth:`SnacTokenizer.decode` reads exactly those positions (the repeats
carry no information and are not checked). Because of the repeats, ``bitrate`` is NOT
``frame_rate x Q x 12``: :meth:`SnacTokenizer.bitrate_at` counts each stream at its own rate
(``sum_q frame_rate / stride_q x log2(4096)``), which is the published 0.98 kbps at full depth;
``n_q = k`` keeps the ``k`` coarsest streams (residual order). Per-codebook token statistics
computed on these rows see each coarse code ``stride_q`` times (their entropy per code is
unchanged, the counts are scaled).

The input is resampled 16 -> 24 kHz and the output back with the project's resampler; as
``SNAC.preprocess``, the input is zero-padded on the right to a multiple of ``hop x lcm(strides,
attention window)``, so ``T`` is a multiple of that many frames. Batched and one-at-a-time codes
are the same (no batch statistics). The decoder adds Gaussian noise (``noise=True`` in the published
configs); each decode draws it from a fixed seed (:data:`DECODER_NOISE_SEED`), so a decode is
reproducible, but a batch draws other noise than one example alone: batched and one-at-a-time
waveforms differ by that noise (``--consistency`` shows it), codes do not. Code and weights: MIT. Install: ``pip install
'tokenizer-bench[codecs]'`` (snac, einops).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import CheckpointError, ConfigError, MissingDependencyError
from tokenizer_bench.core.io import write_json_atomic

from tokenizer_bench.plugins.tokenizers._hf_codec import HFCodecTokenizer, published_checkpoint, saved_options

MODELS = {"24khz": "hubertsiuzdak/snac_24khz", "32khz": "hubertsiuzdak/snac_32khz",
          "44khz": "hubertsiuzdak/snac_44khz"}
HUB_ID = MODELS["24khz"]
CONFIG_FILE = "snac_tokenizer.json"
FILES = ("config.json", "pytorch_model.bin")
#: SNAC's decoder adds Gaussian noise (NoiseBlock, torch's global RNG); it is drawn from this seed on
#: every decode call (the caller's RNG state is left as it was), so a decode is reproducible.
DECODER_NOISE_SEED = 0  # the package's own layout (SNAC.from_pretrained)


def _snac_class() -> Any:
    try:
        from snac import SNAC
    except ImportError as exc:
        raise MissingDependencyError(
            f"snac: the SNAC baseline needs the PyPI packages snac and einops ({exc}); "
            "pip install 'tokenizer-bench[codecs]'"
        ) from None
    return SNAC


def _load(folder: Path) -> tuple[Any, dict]:
    SNAC = _snac_class()
    config = json.loads((folder / "config.json").read_text())
    model = SNAC(**config)
    try:
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise CheckpointError(f"cannot load SNAC weights from {folder}: {exc}") from exc
    return model.eval(), config


class SnacTokenizer(HFCodecTokenizer):
    """A ``snac.SNAC`` model behind the project's 16 kHz interface (streams repeated to the finest rate)."""

    name = "snac"
    config_file = CONFIG_FILE

    def __init__(self, model: Any, config: dict, n_q: int | None = None, chunk_seconds: float | None = 60.0,
                 chunk_context_seconds: float = 2.0, max_batch_seconds: float | None = 60.0) -> None:
        self.model = model.eval()
        self.config = dict(config)
        self.model_rate = self.output_rate = int(model.sampling_rate)
        self.hop = self.out_hop = int(model.hop_length)
        self.frame_rate = self.model_rate / self.hop
        self.codebook_size = int(model.codebook_size)
        self.strides = tuple(int(s) for s in model.vq_strides)
        # frames per padding unit of SNAC.preprocess; windows are cut at multiples of it
        self.frame_multiple = math.lcm(self.strides[0], model.attn_window_size or 1)
        self._init_runtime(n_q, len(self.strides), chunk_seconds, chunk_context_seconds, max_batch_seconds)

    def bitrate_at(self, n_q: int | None) -> float:
        """Bits per second of the ``n_q`` coarsest streams, each at its own rate (not ``frame_rate x Q``)."""
        n = self.num_codebooks if n_q is None else int(n_q)
        bits = math.log2(self.codebook_size)
        return float(sum(self.frame_rate / s * bits for s in self.strides[:n]))

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "SnacTokenizer":
        return snac(directory, **options)

    def save_pretrained(self, directory: str | Path) -> None:
        """The package's layout (``config.json`` + ``pytorch_model.bin``, what ``SNAC.from_pretrained`` reads)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(directory / "config.json", self.config)
        torch.save(self.model.state_dict(), directory / "pytorch_model.bin")
        write_json_atomic(directory / CONFIG_FILE, {"tokenizer": self.name, **self.options()})

    def _encode_native(self, x: torch.Tensor, n_q: int) -> torch.Tensor:
        streams = self.model.encode(x)  # list of [B, T / stride_q], coarsest first
        t = streams[-1].shape[-1] * self.strides[-1]
        rows = [s.repeat_interleave(stride, dim=-1)[..., :t] for s, stride in zip(streams[:n_q], self.strides)]
        return torch.stack(rows, dim=1)

    def _decode_native(self, codes: torch.Tensor) -> torch.Tensor:
        t = codes.shape[-1]
        pad = -t % self.frame_multiple
        if pad:  # a ragged last window: repeat the last frame so every stream has whole codes
            codes = torch.cat([codes, codes[..., -1:].expand(-1, -1, pad)], dim=-1)
        quantizers = self.model.quantizer.quantizers
        z = 0.0
        for q in range(codes.shape[1]):
            stream = codes[:, q, :: self.strides[q]]
            layer = quantizers[q]
            z = z + layer.out_proj(layer.decode_code(stream)).repeat_interleave(layer.stride, dim=-1)
        with torch.random.fork_rng(devices=[z.device] if z.device.type == "cuda" else []):
            torch.manual_seed(DECODER_NOISE_SEED)
            return self.model.decoder(z)[..., : t * self.out_hop]

    @torch.inference_mode()
    def code_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """Each stream's code vector after its output projection, at the finest rate ``[B, Q, D, T]``."""
        self.check_codes(codes)
        codes = codes.to(device=self.device, dtype=torch.long)
        quantizers = self.model.quantizer.quantizers
        return torch.stack([quantizers[q].out_proj(quantizers[q].decode_code(codes[:, q]))
                            for q in range(codes.shape[1])], dim=1).float()


def snac(checkpoint: str | Path | None = None, model: str | None = None, n_q: int | None = None,
         revision: str | None = None, **runtime: Any) -> SnacTokenizer:
    """SNAC (PyPI snac): ``model`` 24khz (default, speech), 32khz or 44khz, or ``checkpoint`` = hub id / folder."""
    checkpoint = published_checkpoint("snac", model, checkpoint, MODELS, HUB_ID)
    _snac_class()
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ConfigError(f"snac: revision={revision!r} applies to hub ids; {path} is a local folder")
        missing = [f for f in FILES if not (path / f).is_file()]
        if missing:
            raise CheckpointError(f"SNAC checkpoint directory {path} lacks {', '.join(missing)} "
                                  "(expected the snac package's layout: config.json + pytorch_model.bin)")
        folder = path
    elif path.exists() or not hub.looks_like_repo_id(str(checkpoint)):
        raise CheckpointError(f"SNAC checkpoint {str(checkpoint)!r}: not a directory and not a hub id (owner/name)")
    else:
        found = hub.fetch_files(str(checkpoint), FILES, revision=revision, what="SNAC weights",
                                hint="or pass checkpoint=DIR (CLI: --tokenizers snac:DIR)")
        folder = found[0].parent
    saved = saved_options(folder, CONFIG_FILE, "snac")
    loaded, config = _load(folder)
    return SnacTokenizer(loaded, config, n_q=n_q if n_q is not None else saved.get("n_q"), **runtime)


def register_tokenizers(register) -> None:
    register("snac", snac)


__all__ = ["SnacTokenizer", "snac", "HUB_ID", "MODELS"]

"""Residual vector quantizer with EMA codebooks (``rvq``), SpeechTokenizer/DM-Codec compatible.

Buffers follow the official layout, ``vq.layers.{i}._codebook.{inited, cluster_size, embed,
embed_avg}`` (no parameters, no projections), so official generator checkpoints load strictly.
Behaviour follows the official ``core_vq`` (EnCodec): nearest code by squared Euclidean
distance, EMA codebook updates in training (:mod:`._codebook`), straight-through estimator,
commitment loss = mse(q.detach(), residual) per layer averaged over layers, residual
``r_{i+1} = r_i - q_i``.

Where this differs from the official code, on purpose (the official behaviours, selected by
``dead_code_mode``, ``kmeans_ema_init`` and ``layer_output_gradient``, are in :mod:`.parity`):

* **k-means init** is the fast Lloyd's of :mod:`._kmeans` (matmul distances, stop at the fixed
  point, at most ``kmeans_max_samples`` vectors) instead of 50 broadcast iterations.
* **When it runs.** The official ``forward`` initialises an uninitialised codebook even in eval
  mode. Here only a *training* forward initialises; an eval forward on an uninitialised codebook
  leaves the state untouched (eval is side-effect free and deterministic) and warns once.
  ``encode`` never initialises (as the official).
* **Commitment loss** is computed in eval mode too (the official returns exactly 0 there); it
  carries no gradient in eval.
* **Per-layer outputs.** ``layer_outputs[k]`` has the official values, but in training its
  gradient reaches the encoder latent as an identity (``layer_output_gradient="encoder"``,
  default), so a loss on any layer's output (distillation of RVQ-8 or the RVQ-1:8 average)
  trains the encoder.

Options from DAC (Kumar et al., 2023), off by default so that existing configs, exports and the
official checkpoint layout are unchanged (issue #24's small-budget levers):

* ``quantizer_dropout`` (DAC's name and semantics; SoundStream's "quantizer dropout"): in training
  the first ``int(B * quantizer_dropout)`` items of a batch keep only their first ``n`` levels,
  ``n`` drawn uniformly from ``1..n_q`` per item; the others keep all levels; eval uses all. As in
  DAC every level still quantizes every item's residual (codes and ``layer_outputs`` hold all
  levels); a dropped level adds nothing to the item's ``quantized``, its commitment term is zero
  for that item (still divided by the whole batch, as DAC), and -- the EMA analogue of DAC's masked
  codebook loss -- the level's EMA counts and sums take only the items that kept it (a step where
  none did decays them as a step with no assignments; dead-code replacements may still be drawn
  from any item's residual at that level).
* ``codebook_dim`` (factorised codes, ViT-VQGAN / DAC): each level projects the residual to
  ``codebook_dim`` channels (``in_proj``, a weight-normed 1x1 convolution), quantizes there, and
  projects the straight-through code back (``out_proj``). The codebook, its k-means init, EMA
  update and commitment loss live in the low-dimensional space. ``None``: no projection (today's
  layout, no extra keys).
* ``lookup="cosine"`` (L2-normalised codes, DAC): the nearest code is the one of highest cosine
  similarity, i.e. nearest after L2-normalising both the vector and the codes; the code vector used
  is the stored (unnormalised) one, as in DAC's ``decode_latents``. ``"euclidean"``: the official
  squared-distance lookup.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import nn
from torch.nn import functional as F

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import QuantizerOutput

from tokenizer_bench.plugins.layers import WNConv1d

from tokenizer_bench.plugins.quantizers import parity
from tokenizer_bench.plugins.quantizers._codebook import LOOKUPS, EuclideanCodebook
from tokenizer_bench.plugins.quantizers._kmeans import code_counts

DEAD_CODE_MODES = ("official", "reset")
KMEANS_EMA_INITS = ("official", "weighted")


def layer_output_to_latent(q: torch.Tensor, q_out: torch.Tensor, path: torch.Tensor,
                           training: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer's output for losses on it, and the next ``path``.

    ``path`` starts as the latent and loses each layer's detached codes, so in training the output
    ``path + sg(q - path)`` has the value of ``q`` and an identity gradient to the latent. In eval
    the output is the layer's tensor itself.
    """
    if not training:
        return q_out, path
    return path + (q - path).detach(), path - q.detach()


#: ``layer_output_gradient`` -> the rule for per-layer outputs.
LAYER_OUTPUTS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
    "encoder": layer_output_to_latent,
    "official": parity.official_layer_output,
}
LAYER_OUTPUT_GRADIENTS = tuple(LAYER_OUTPUTS)


def make_codebook(dead_code_mode: str, kmeans_ema_init: str, **kwargs) -> EuclideanCodebook:
    """The method's codebook, or :class:`.parity.OfficialCodebook` when either mode is ``official``."""
    if dead_code_mode == "official" or kmeans_ema_init == "official":
        return parity.OfficialCodebook(official_dead_codes=dead_code_mode == "official",
                                       official_kmeans_ema=kmeans_ema_init == "official", **kwargs)
    return EuclideanCodebook(reset_dead_codes=True, **kwargs)


class VectorQuantization(nn.Module):
    """One RVQ layer; holds the codebook as ``_codebook`` (official key path).

    With ``codebook_dim`` (factorised codes) it also holds ``in_proj`` / ``out_proj``, weight-normed
    1x1 convolutions between the latent's ``dimension`` and the codebook's ``codebook_dim``.
    """

    def __init__(self, dimension: int, codebook_dim: int | None = None, **codebook_kwargs) -> None:
        super().__init__()
        self.in_proj: nn.Module | None = None
        self.out_proj: nn.Module | None = None
        if codebook_dim is not None:
            self.in_proj = WNConv1d(dimension, codebook_dim, 1)
            self.out_proj = WNConv1d(codebook_dim, dimension, 1)
        self._codebook = make_codebook(dim=dimension if codebook_dim is None else codebook_dim, **codebook_kwargs)

    def project_in(self, x: torch.Tensor) -> torch.Tensor:
        """Latent-space ``[B, dimension, T]`` -> codebook space ``[B, codebook_dim, T]`` (identity without one)."""
        return x if self.in_proj is None else self.in_proj(x)

    def project_out(self, z: torch.Tensor) -> torch.Tensor:
        """Codebook space -> latent space (identity without ``codebook_dim``)."""
        return z if self.out_proj is None else self.out_proj(z)


class _LayerStack(nn.Module):
    def __init__(self, layers: list[VectorQuantization]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)


class ResidualVectorQuantizer(nn.Module):
    """Residual VQ: ``n_q`` EMA codebooks of ``codebook_size`` vectors of size ``dimension``."""

    def __init__(
        self,
        dimension: int = 1024,
        n_q: int = 8,
        codebook_size: int = 1024,
        decay: float = 0.99,
        kmeans_init: bool = True,
        kmeans_iters: int = 50,
        kmeans_max_samples: int | None = 8192,
        threshold_ema_dead_code: float = 2,
        epsilon: float = 1e-5,
        dead_code_mode: Literal["official", "reset"] = "official",
        kmeans_ema_init: Literal["official", "weighted"] = "official",
        layer_output_gradient: Literal["encoder", "official"] = "encoder",
        compute_metrics: bool = True,
        quantizer_dropout: float = 0.0,
        codebook_dim: int | None = None,
        lookup: Literal["euclidean", "cosine"] = "euclidean",
    ) -> None:
        super().__init__()
        if n_q < 1 or codebook_size < 1 or dimension < 1:
            raise ConfigError(f"rvq: dimension, n_q and codebook_size must be positive (got {dimension}, {n_q}, "
                              f"{codebook_size})")
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"rvq: decay must be in [0, 1), got {decay}")
        if dead_code_mode not in DEAD_CODE_MODES:
            raise ConfigError(f"rvq: dead_code_mode must be one of {', '.join(DEAD_CODE_MODES)}, "
                              f"got {dead_code_mode!r}")
        if kmeans_ema_init not in KMEANS_EMA_INITS:
            raise ConfigError(f"rvq: kmeans_ema_init must be one of {', '.join(KMEANS_EMA_INITS)}, "
                              f"got {kmeans_ema_init!r}")
        if layer_output_gradient not in LAYER_OUTPUT_GRADIENTS:
            raise ConfigError(f"rvq: layer_output_gradient must be one of {', '.join(LAYER_OUTPUT_GRADIENTS)}, "
                              f"got {layer_output_gradient!r}")
        if kmeans_max_samples is not None and kmeans_max_samples < 1:
            raise ConfigError(f"rvq: kmeans_max_samples must be positive or null, got {kmeans_max_samples}")
        if isinstance(quantizer_dropout, bool) or not 0.0 <= float(quantizer_dropout) <= 1.0:
            raise ConfigError(f"rvq: quantizer_dropout is the fraction of a batch that drops levels, a number in "
                              f"[0, 1], got {quantizer_dropout!r}")
        if codebook_dim is not None and (isinstance(codebook_dim, bool) or int(codebook_dim) < 1):
            raise ConfigError(f"rvq: codebook_dim must be a positive integer or null, got {codebook_dim!r}")
        if lookup not in LOOKUPS:
            raise ConfigError(f"rvq: lookup must be one of {', '.join(LOOKUPS)}, got {lookup!r}")
        self.quantizer_dropout = float(quantizer_dropout)
        self.codebook_dim = None if codebook_dim is None else int(codebook_dim)
        self.lookup = lookup
        self.dimension = int(dimension)
        self.num_codebooks = int(n_q)
        self.codebook_size = int(codebook_size)
        self.layer_output_gradient = layer_output_gradient
        self.compute_metrics = compute_metrics
        self.vq = _LayerStack([
            VectorQuantization(
                self.dimension, self.codebook_dim, codebook_size=self.codebook_size, kmeans_init=kmeans_init,
                kmeans_iters=kmeans_iters, kmeans_max_samples=kmeans_max_samples, decay=decay, epsilon=epsilon,
                threshold_ema_dead_code=threshold_ema_dead_code, dead_code_mode=dead_code_mode,
                kmeans_ema_init=kmeans_ema_init, lookup=lookup)
            for _ in range(self.num_codebooks)
        ])

    # ------------------------------------------------------------------ helpers
    @property
    def codebooks(self) -> list[EuclideanCodebook]:
        return [layer._codebook for layer in self.vq.layers]

    def _n_q(self, n_q: int | None) -> int:
        if not n_q:  # None or 0 -> all layers (official)
            return self.num_codebooks
        if not 1 <= int(n_q) <= self.num_codebooks:
            raise ValueError(f"rvq: n_q must be between 1 and {self.num_codebooks}, got {n_q}")
        return int(n_q)

    def _check_latent(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.dimension:
            raise ValueError(f"rvq expects latents [B, {self.dimension}, T], got {tuple(x.shape)}")

    @staticmethod
    def _flat(x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(-1, x.shape[1])

    @staticmethod
    def _unflat(v: torch.Tensor, b: int, t: int) -> torch.Tensor:
        return v.reshape(b, t, -1).transpose(1, 2)

    # ------------------------------------------------------------------ API
    def levels_kept(self, batch: int, device: torch.device) -> torch.Tensor | None:
        """Per item, how many levels it keeps this training step (``quantizer_dropout``); None: all.

        DAC's draw: ``n ~ U{1..n_q}`` for the first ``int(batch * quantizer_dropout)`` items, all levels
        for the rest, from the global CPU generator (the trainer seeds it).
        """
        n_dropout = int(batch * self.quantizer_dropout)
        if not self.training or n_dropout == 0:
            return None
        kept = torch.full((batch,), self.num_codebooks, dtype=torch.long)
        kept[:n_dropout] = torch.randint(1, self.num_codebooks + 1, (batch,))[:n_dropout]
        return kept.to(device)

    def forward(self, x: torch.Tensor, n_q: int | None = None) -> QuantizerOutput:
        """Quantize ``x [B, D, T]`` with the first ``n_q`` layers; trains codebooks in training mode."""
        self._check_latent(x)
        n_q = self._n_q(n_q)
        b, _, t = x.shape
        layer_output = LAYER_OUTPUTS[self.layer_output_gradient]
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            kept = self.levels_kept(b, x.device)
            residual = x
            grad_residual = x  # the latent less the earlier layers' detached codes (layer_output_to_latent)
            quantized = torch.zeros_like(x)
            codes, losses, outputs, counts = [], [], [], []
            for i, layer in enumerate(self.vq.layers[:n_q]):
                cb = layer._codebook
                z = layer.project_in(residual)
                flat = self._flat(z).detach()
                if not cb.initialised:
                    if self.training:
                        cb.init_from_data_(flat)
                    else:
                        cb.warn_uninitialised()
                idx = cb.nearest(flat)
                q = self._unflat(cb.lookup(idx), b, t)  # from the codebook before this step's update
                keep = None if kept is None else kept > i  # [B]: the items that use this level
                if self.training:
                    cb.ema_update_(flat, idx, None if keep is None else keep.repeat_interleave(t))  # rows item-major
                    q_st = z + (q - z).detach()
                else:
                    q_st = q
                if keep is None:
                    losses.append(F.mse_loss(q.detach(), z))
                else:  # DAC: per-item mse, zero for items that dropped the level, mean over the whole batch
                    losses.append(((q.detach() - z).pow(2).mean(dim=(1, 2)) * keep).mean())
                q_out = layer.project_out(q_st)
                q_lat = q if layer.out_proj is None else q_out  # the code in latent space (q_out's value)
                output, grad_residual = layer_output(q_lat, q_out, grad_residual, self.training)
                outputs.append(output)
                residual = residual - q_out
                quantized = quantized + (q_out if keep is None else q_out * keep[:, None, None])
                codes.append(idx.view(b, t))
                if self.compute_metrics:
                    counts.append(code_counts(idx, self.codebook_size))
            metrics = self._metrics(counts) if counts else {}
        return QuantizerOutput(
            quantized=quantized,
            codes=torch.stack(codes, dim=1),
            commit_loss=torch.stack(losses).mean(),
            layer_outputs=outputs,
            metrics=metrics,
        )

    @torch.no_grad()
    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``x [B, D, T]`` -> codes ``[B, Q, T]`` (int64). Never initialises or updates codebooks."""
        self._check_latent(x)
        n_q = self._n_q(n_q)
        b, _, t = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            residual = x.float()
            codes = []
            for layer in self.vq.layers[:n_q]:
                cb = layer._codebook
                if not cb.initialised:
                    cb.warn_uninitialised()
                idx = cb.nearest(self._flat(layer.project_in(residual)))
                residual = residual - layer.project_out(self._unflat(cb.lookup(idx), b, t))
                codes.append(idx.view(b, t))
        return torch.stack(codes, dim=1)

    def _level_vector(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        """One level's code vectors in latent space: ``[B, T]`` codes -> ``[B, D, T]``."""
        layer = self.vq.layers[level]
        return layer.project_out(layer._codebook.lookup(codes.long()).transpose(1, 2))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes ``[B, Q, T]`` (Q <= n_q) -> latent ``[B, D, T]``, the sum of the layers' code vectors."""
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.num_codebooks:
            raise ValueError(f"rvq.decode expects codes [B, Q<= {self.num_codebooks}, T], got {tuple(codes.shape)}")
        if codes.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
            raise ValueError(f"rvq.decode expects integer codes, got {codes.dtype}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"rvq.decode: codes must lie in [0, {self.codebook_size}), got range "
                             f"[{int(codes.min())}, {int(codes.max())}]")
        b, q, t = codes.shape
        out = torch.zeros(b, self.dimension, t, device=codes.device, dtype=self.codebooks[0].embed.dtype)
        for i in range(q):
            out = out + self._level_vector(i, codes[:, i])
        return out

    def code_vectors(self, codes: torch.Tensor) -> torch.Tensor:
        """codes ``[B, Q, T]`` -> each level's codebook vector ``[B, Q, D, T]`` (their sum over Q is
        :meth:`decode`): the per-level embedding the token-content probe reads."""
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.num_codebooks:
            raise ValueError(f"rvq.code_vectors expects codes [B, Q<= {self.num_codebooks}, T], "
                             f"got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"rvq.code_vectors: codes must lie in [0, {self.codebook_size}), got range "
                             f"[{int(codes.min())}, {int(codes.max())}]")
        levels = [self._level_vector(i, codes[:, i]) for i in range(codes.shape[1])]
        return torch.stack(levels, dim=1)

    def _metrics(self, counts: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per layer: fraction of codes used in this batch and perplexity exp(H(code histogram)),
        as 0-dim tensors on the codes' device (no host sync: a trainer reads them on log steps)."""
        c = torch.stack(counts).float()
        p = c / c.sum(dim=1, keepdim=True)
        entropy = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(dim=1)
        usage = (c > 0).float().mean(dim=1)
        ppl = entropy.exp()
        out: dict[str, torch.Tensor] = {}
        for i in range(c.shape[0]):
            out[f"layer{i}_usage"] = usage[i]
            out[f"layer{i}_perplexity"] = ppl[i]
        return out


def register_quantizers(register) -> None:
    register("rvq", ResidualVectorQuantizer)

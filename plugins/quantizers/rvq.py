"""Residual vector quantizer with EMA codebooks (``rvq``), SpeechTokenizer/DM-Codec compatible.

Buffers follow the official layout, ``vq.layers.{i}._codebook.{inited, cluster_size, embed,
embed_avg}`` (no parameters, no projections), so official generator checkpoints load strictly.
Behaviour follows the official ``core_vq`` (EnCodec): nearest code by squared Euclidean
distance, EMA codebook updates in training (decay 0.99, Laplace-smoothed cluster sizes with
eps 1e-5), straight-through estimator, commitment loss = mse(q.detach(), residual) per layer
averaged over layers, residual ``r_{i+1} = r_i - q_i``.

Where this differs from the official code, on purpose:

* **k-means init** is the fast Lloyd's of :mod:`._kmeans` (matmul distances, stop at the fixed
  point, at most ``kmeans_max_samples`` vectors) instead of 50 broadcast iterations.
* **When it runs.** The official ``forward`` initialises an uninitialised codebook even in eval
  mode. Here only a *training* forward initialises; an eval forward on an uninitialised codebook
  leaves the state untouched (eval is side-effect free and deterministic) and warns once.
  ``encode`` never initialises (as the official).
* **Dead codes.** The official code replaces codes whose EMA cluster size is below the threshold
  by random batch vectors, but then overwrites the whole codebook with ``embed_avg /
  cluster_size`` in the same step, so the replacement never survives. ``dead_code_mode``:
  ``"official"`` (default) reproduces that outcome (no replacement: what trained the published
  checkpoints), including its random draw, so a seeded run matches the official code (checked
  to float precision, k-means init included, up to ties in near-equal distances). ``"reset"``
  makes the replacement stick (the dead code's ``embed``, ``embed_avg = v * threshold`` and
  ``cluster_size = threshold`` are reset after the EMA step, as in lucidrains'
  vector-quantize-pytorch). Note that at small batches ``reset`` churns: with
  ``B*T`` vectors per step and ``K`` codes, EMA cluster sizes settle near ``B*T / K`` (0.9 at
  batch 6 x 3 s), below the threshold 2 for most codes.
* **EMA state after k-means** (``kmeans_ema_init``). The official init sets ``embed_avg`` to the
  means themselves while ``cluster_size`` holds the cluster counts, so the first EMA step turns a
  code into roughly ``mean / count`` (empty clusters blow up by ~1e5 and stay unused).
  ``"official"`` (default) keeps that; ``"weighted"`` stores ``mean * count`` so codes stay at
  their centroids (as later lucidrains versions do). In a 64-d simulation (1024 codes, 900 or
  3600 vectors per step) the two differ only during the first few dozen steps.
* **Commitment loss** is computed in eval mode too (the official returns exactly 0 there); it
  carries no gradient in eval.
* **Per-layer outputs.** ``layer_outputs[k]`` has the official values, but its gradient reaches
  the encoder latent as an identity (``layer_output_gradient="encoder"``, default). With the
  official residual chain ``r_{i+1} = r_i - (r_i + sg(q_i - r_i))`` every layer after the first
  has *zero* gradient with respect to the latent, so distilling RVQ-8 or the RVQ-1:8 average would
  not train the encoder beyond RVQ-1. ``"official"`` keeps the official tensors.
* **Distributed.** When ``torch.distributed`` is initialised, the k-means result is broadcast
  from rank 0, the EMA statistics (counts and sums) are all-reduced before the update, and
  replacement vectors (``reset`` mode) are broadcast, so all replicas keep identical codebooks.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import QuantizerOutput

from ._kmeans import initial_means, kmeans, nearest

DEAD_CODE_MODES = ("official", "reset")
LAYER_OUTPUT_GRADIENTS = ("encoder", "official")
KMEANS_EMA_INITS = ("official", "weighted")


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _all_reduce_sum_(*tensors: torch.Tensor) -> None:
    if _distributed():
        for t in tensors:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)


def _broadcast_(*tensors: torch.Tensor) -> None:
    if _distributed():
        for t in tensors:
            torch.distributed.broadcast(t, src=0)


def laplace_smoothed_sizes(cluster_size: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``(n_k + eps) / (n + K eps) * n``: keeps the total, moves every size away from zero."""
    n = cluster_size.sum()
    k = cluster_size.shape[0]
    return (cluster_size + epsilon) / (n + k * epsilon) * n


class EuclideanCodebook(nn.Module):
    """One EMA codebook. Buffers (in official order): ``inited, cluster_size, embed, embed_avg``."""

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        kmeans_init: bool = True,
        kmeans_iters: int = 50,
        kmeans_max_samples: int | None = 8192,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        threshold_ema_dead_code: float = 2,
        dead_code_mode: str = "official",
        kmeans_ema_init: str = "official",
    ) -> None:
        super().__init__()
        self.dim = dim
        self.kmeans_ema_init = kmeans_ema_init
        self.codebook_size = codebook_size
        self.kmeans_iters = kmeans_iters
        self.kmeans_max_samples = kmeans_max_samples
        self.decay = decay
        self.epsilon = epsilon
        self.threshold_ema_dead_code = threshold_ema_dead_code
        self.dead_code_mode = dead_code_mode
        if kmeans_init:
            embed = torch.zeros(codebook_size, dim)
        else:
            embed = torch.empty(codebook_size, dim)
            nn.init.kaiming_uniform_(embed)
        self.register_buffer("inited", torch.tensor([0.0 if kmeans_init else 1.0]))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())
        self._warned_uninitialised = False
        self._inited_seen = False
        #: Details of the last k-means init (iterations, converged, samples); None until it ran.
        self.last_kmeans: dict | None = None

    @property
    def initialised(self) -> bool:
        # Cached once true, so a training step does not sync with the GPU per layer to read it.
        if not self._inited_seen:
            self._inited_seen = bool(self.inited.item())
        return self._inited_seen

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._inited_seen = False  # the loaded state decides again
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def init_from_data_(self, x: torch.Tensor) -> None:
        """k-means on ``x [N, D]`` -> codebook; rank 0's result is broadcast to every replica."""
        rank = torch.distributed.get_rank() if _distributed() else 0
        if rank == 0:
            res = kmeans(x, self.codebook_size, self.kmeans_iters, self.kmeans_max_samples)
            self.embed.copy_(res.means)
            if self.kmeans_ema_init == "weighted":
                self.embed_avg.copy_(res.means * res.cluster_size[:, None])
            else:
                self.embed_avg.copy_(res.means)
            self.cluster_size.copy_(res.cluster_size)
            self.last_kmeans = {"iterations": res.iterations, "converged": res.converged,
                                "num_samples": res.num_samples}
        self.inited.fill_(1.0)
        _broadcast_(self.embed, self.embed_avg, self.cluster_size)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices ``[N]`` for ``x [N, D]``."""
        return nearest(x, self.embed)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)

    @torch.no_grad()
    def ema_update_(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """One training update from ``x [N, D]`` assigned to ``codes [N]``: EMA of counts and sums, then
        ``embed = embed_avg / laplace(cluster_size)``; in ``reset`` mode dead codes are replaced afterwards."""
        counts = torch.bincount(codes, minlength=self.codebook_size).to(x.dtype)
        sums = torch.zeros_like(self.embed_avg).index_add_(0, codes, x)
        _all_reduce_sum_(counts, sums)
        if self.dead_code_mode == "official" and self.threshold_ema_dead_code > 0:
            # The official code replaces expired codes here and overwrites them below, so only its
            # random draw has an effect (on the RNG stream); draw the same numbers so seeded runs
            # match the official implementation exactly.
            if bool((self.cluster_size < self.threshold_ema_dead_code).any()):
                initial_means(x, self.codebook_size)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        sizes = laplace_smoothed_sizes(self.cluster_size, self.epsilon)
        self.embed.copy_(self.embed_avg / sizes[:, None])
        if self.dead_code_mode == "reset":
            self._reset_dead_codes_(x)

    @torch.no_grad()
    def _reset_dead_codes_(self, x: torch.Tensor) -> None:
        if self.threshold_ema_dead_code <= 0:
            return
        dead = self.cluster_size < self.threshold_ema_dead_code
        n_dead = int(dead.sum().item())
        if n_dead == 0:
            return
        fresh = initial_means(x, n_dead)
        _broadcast_(fresh)
        self.embed[dead] = fresh
        self.embed_avg[dead] = fresh * self.threshold_ema_dead_code
        self.cluster_size[dead] = float(self.threshold_ema_dead_code)

    def warn_uninitialised(self) -> None:
        if not self._warned_uninitialised:
            warnings.warn(
                "rvq: quantizing with a codebook that was never initialised (k-means runs on the first "
                "training-mode forward); codes are meaningless until then", RuntimeWarning, stacklevel=3)
            self._warned_uninitialised = True


class VectorQuantization(nn.Module):
    """One RVQ layer; holds the codebook as ``_codebook`` (official key path)."""

    def __init__(self, **codebook_kwargs) -> None:
        super().__init__()
        self._codebook = EuclideanCodebook(**codebook_kwargs)


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
    ) -> None:
        super().__init__()
        if n_q < 1 or codebook_size < 1 or dimension < 1:
            raise ConfigError(f"rvq: dimension, n_q and codebook_size must be positive (got {dimension}, {n_q}, "
                              f"{codebook_size})")
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"rvq: decay must be in [0, 1), got {decay}")
        if dead_code_mode not in DEAD_CODE_MODES:
            raise ConfigError(f"rvq: dead_code_mode must be one of {', '.join(DEAD_CODE_MODES)}, got {dead_code_mode!r}")
        if kmeans_ema_init not in KMEANS_EMA_INITS:
            raise ConfigError(f"rvq: kmeans_ema_init must be one of {', '.join(KMEANS_EMA_INITS)}, "
                              f"got {kmeans_ema_init!r}")
        if layer_output_gradient not in LAYER_OUTPUT_GRADIENTS:
            raise ConfigError(f"rvq: layer_output_gradient must be one of {', '.join(LAYER_OUTPUT_GRADIENTS)}, "
                              f"got {layer_output_gradient!r}")
        if kmeans_max_samples is not None and kmeans_max_samples < 1:
            raise ConfigError(f"rvq: kmeans_max_samples must be positive or null, got {kmeans_max_samples}")
        self.dimension = int(dimension)
        self.num_codebooks = int(n_q)
        self.codebook_size = int(codebook_size)
        self.layer_output_gradient = layer_output_gradient
        self.compute_metrics = compute_metrics
        self.vq = _LayerStack([
            VectorQuantization(
                dim=self.dimension, codebook_size=self.codebook_size, kmeans_init=kmeans_init,
                kmeans_iters=kmeans_iters, kmeans_max_samples=kmeans_max_samples, decay=decay, epsilon=epsilon,
                threshold_ema_dead_code=threshold_ema_dead_code, dead_code_mode=dead_code_mode,
                kmeans_ema_init=kmeans_ema_init)
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
    def forward(self, x: torch.Tensor, n_q: int | None = None) -> QuantizerOutput:
        """Quantize ``x [B, D, T]`` with the first ``n_q`` layers; trains codebooks in training mode."""
        self._check_latent(x)
        n_q = self._n_q(n_q)
        b, _, t = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            residual = x
            grad_residual = x  # carries an identity gradient to x through every layer
            quantized = torch.zeros_like(x)
            codes, losses, outputs, counts = [], [], [], []
            for cb in self.codebooks[:n_q]:
                flat = self._flat(residual).detach()
                if not cb.initialised:
                    if self.training:
                        cb.init_from_data_(flat)
                    else:
                        cb.warn_uninitialised()
                idx = cb.nearest(flat)
                q = self._unflat(cb.lookup(idx), b, t)  # from the codebook before this step's update
                if self.training:
                    cb.ema_update_(flat, idx)
                    q_out = residual + (q - residual).detach()
                else:
                    q_out = q
                losses.append(F.mse_loss(q.detach(), residual))
                if self.training and self.layer_output_gradient == "encoder":
                    outputs.append(grad_residual + (q - grad_residual).detach())
                    grad_residual = grad_residual - q.detach()
                else:
                    outputs.append(q_out)
                residual = residual - q_out
                quantized = quantized + q_out
                codes.append(idx.view(b, t))
                if self.compute_metrics:
                    counts.append(torch.bincount(idx, minlength=self.codebook_size))
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
            residual = self._flat(x.float())
            codes = []
            for cb in self.codebooks[:n_q]:
                if not cb.initialised:
                    cb.warn_uninitialised()
                idx = cb.nearest(residual)
                residual = residual - cb.lookup(idx)
                codes.append(idx.view(b, t))
        return torch.stack(codes, dim=1)

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
        out = torch.zeros(b, t, self.dimension, device=codes.device, dtype=self.codebooks[0].embed.dtype)
        for i in range(q):
            out = out + self.codebooks[i].lookup(codes[:, i].long())
        return out.transpose(1, 2)

    def code_vectors(self, codes: torch.Tensor) -> torch.Tensor:
        """codes ``[B, Q, T]`` -> each level's codebook vector ``[B, Q, D, T]`` (their sum over Q is
        :meth:`decode`): the per-level embedding the token-content probe reads."""
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.num_codebooks:
            raise ValueError(f"rvq.code_vectors expects codes [B, Q<= {self.num_codebooks}, T], got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"rvq.code_vectors: codes must lie in [0, {self.codebook_size}), got range "
                             f"[{int(codes.min())}, {int(codes.max())}]")
        levels = [self.codebooks[i].lookup(codes[:, i].long()).transpose(1, 2) for i in range(codes.shape[1])]
        return torch.stack(levels, dim=1)

    def _metrics(self, counts: list[torch.Tensor]) -> dict[str, float]:
        """Per layer: fraction of codes used in this batch and perplexity exp(H(code histogram))."""
        c = torch.stack(counts).double()
        p = c / c.sum(dim=1, keepdim=True)
        entropy = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(dim=1)
        usage = (c > 0).double().mean(dim=1)
        values = torch.stack([usage, entropy.exp()], dim=1).tolist()
        out: dict[str, float] = {}
        for i, (u, ppl) in enumerate(values):
            out[f"layer{i}_usage"] = u
            out[f"layer{i}_perplexity"] = ppl
        return out

    def bits_per_frame(self, n_q: int | None = None) -> float:
        return self._n_q(n_q) * math.log2(self.codebook_size)


def register_quantizers(register) -> None:
    register("rvq", ResidualVectorQuantizer)

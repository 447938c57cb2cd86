"""One EMA codebook of the residual VQ: k-means init, nearest code, EMA update, dead-code reset.

Buffers follow the official layout, ``inited, cluster_size, embed, embed_avg`` (no parameters),
so official generator checkpoints load strictly. The update is the EnCodec / SpeechTokenizer one:
EMA of per-code counts and sums (decay 0.99), ``embed = embed_avg / laplace(cluster_size)``
(Laplace-smoothed sizes, eps 1e-5). After k-means the EMA state is consistent with the means
(``embed_avg = mean * count``), and with ``reset_dead_codes`` a code whose EMA cluster size fell
below the threshold is replaced by a batch vector after the step (as in lucidrains'
vector-quantize-pytorch). The official code's two departures from this (its EMA state after
k-means, its replacement that never survives) are in :mod:`.parity`.

When ``torch.distributed`` is initialised, the k-means result is broadcast from rank 0, the EMA
statistics (counts and sums) are all-reduced before the update, and replacement vectors are
broadcast, so all replicas keep identical codebooks.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from tokenizer_bench.plugins.quantizers._kmeans import code_counts, initial_means, kmeans, nearest

#: How the nearest code is found: squared Euclidean distance (official), or highest cosine similarity
#: (DAC's L2-normalised lookup: both sides normalised before the distance).
LOOKUPS = ("euclidean", "cosine")


def distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _all_reduce_sum_(*tensors: torch.Tensor) -> None:
    if distributed():
        for t in tensors:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)


def _broadcast_(*tensors: torch.Tensor) -> None:
    if distributed():
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
        reset_dead_codes: bool = True,
        lookup: str = "euclidean",
    ) -> None:
        super().__init__()
        if lookup not in LOOKUPS:
            raise ValueError(f"codebook lookup must be one of {', '.join(LOOKUPS)}, got {lookup!r}")
        self.lookup_kind = lookup
        self.dim = dim
        self.codebook_size = codebook_size
        self.kmeans_iters = kmeans_iters
        self.kmeans_max_samples = kmeans_max_samples
        self.decay = decay
        self.epsilon = epsilon
        self.threshold_ema_dead_code = threshold_ema_dead_code
        self.reset_dead_codes = reset_dead_codes
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

    def ema_sums_after_kmeans(self, means: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """The ``embed_avg`` that makes the next EMA step keep each code at its centroid."""
        return means * counts[:, None]

    @torch.no_grad()
    def init_from_data_(self, x: torch.Tensor) -> None:
        """k-means on ``x [N, D]`` -> codebook; rank 0's result is broadcast to every replica."""
        rank = torch.distributed.get_rank() if distributed() else 0
        if rank == 0:
            res = kmeans(x, self.codebook_size, self.kmeans_iters, self.kmeans_max_samples)
            self.embed.copy_(res.means)
            self.embed_avg.copy_(self.ema_sums_after_kmeans(res.means, res.cluster_size))
            self.cluster_size.copy_(res.cluster_size)
            self.last_kmeans = {"iterations": res.iterations, "converged": res.converged,
                                "num_samples": res.num_samples}
        self.inited.fill_(1.0)
        self._inited_seen = True  # known here: the next step need not read the flag from the device
        _broadcast_(self.embed, self.embed_avg, self.cluster_size)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices ``[N]`` for ``x [N, D]``: nearest code, or (``lookup="cosine"``) most similar direction."""
        if self.lookup_kind == "cosine":
            return nearest(F.normalize(x, dim=1), F.normalize(self.embed, dim=1))
        return nearest(x, self.embed)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)

    @torch.no_grad()
    def ema_update_(self, x: torch.Tensor, codes: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """One training update from ``x [N, D]`` assigned to ``codes [N]``: EMA of counts and sums, then
        ``embed = embed_avg / laplace(cluster_size)``; with ``reset_dead_codes`` dead codes are replaced.

        ``weights [N]`` (0/1, quantizer dropout) leaves rows out of the counts and sums without
        changing shapes, so every replica still makes the same collective calls.
        """
        if weights is None:
            counts = code_counts(codes, self.codebook_size, x.dtype)
            sums = torch.zeros_like(self.embed_avg).index_add_(0, codes, x)
        else:
            w = weights.to(x.dtype)
            counts = torch.zeros(self.codebook_size, dtype=x.dtype, device=x.device).index_add_(0, codes, w)
            sums = torch.zeros_like(self.embed_avg).index_add_(0, codes, x * w[:, None])
        _all_reduce_sum_(counts, sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        sizes = laplace_smoothed_sizes(self.cluster_size, self.epsilon)
        self.embed.copy_(self.embed_avg / sizes[:, None])
        if self.reset_dead_codes:
            self._reset_dead_codes_(x)

    @torch.no_grad()
    def _reset_dead_codes_(self, x: torch.Tensor) -> None:
        # one host sync per layer and step (how many codes to draw): the price of "reset" mode
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

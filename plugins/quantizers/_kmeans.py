"""Fast k-means for codebook initialisation.

The official SpeechTokenizer/DM-Codec (EnCodec) codebook init runs Lloyd's algorithm for a fixed
50 iterations over all ``B*T`` vectors of the first batch, computing distances by broadcasting an
``[N, K, D]`` difference tensor (N=900, K=D=1024 at batch 6 is 3.8 GB per iteration). This module
runs the *same algorithm* — random data vectors as initial means, nearest-mean assignment,
means <- cluster averages, empty clusters keep their previous mean — with three changes that cost
nothing in quality:

1. distances come from one matmul (``|x|² - 2x·c + |c|²``), never the ``[N, K, D]`` tensor;
2. it stops as soon as an iteration changes no assignment: that is a fixed point of Lloyd's
   algorithm, so further iterations would return the very same means (the official loop keeps
   going for all 50 iterations regardless);
3. at most ``max_samples`` vectors (a random subset) are clustered when the batch is larger;
   the cluster sizes returned are then counted over *all* vectors against the final means, so
   they keep the official meaning (cluster sizes in this batch).

Initial means are drawn exactly as the official code draws them (``randperm`` when there are at
least ``K`` vectors, otherwise ``randint`` with replacement), from the same global RNG, so with
the same seed and no cap the result equals the official init (up to float ties in distances).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class KMeansResult:
    means: torch.Tensor  # [K, D]
    cluster_size: torch.Tensor  # [K] float, vectors of the full input assigned to each mean
    iterations: int  # Lloyd iterations run
    converged: bool  # stopped because no assignment changed
    num_samples: int  # vectors clustered (after the cap)


def initial_means(samples: torch.Tensor, num_clusters: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``num_clusters`` random data vectors: distinct when ``N >= K``, else drawn with replacement (official)."""
    n = samples.shape[0]
    if n >= num_clusters:
        idx = torch.randperm(n, device=samples.device, generator=generator)[:num_clusters]
    else:
        idx = torch.randint(0, n, (num_clusters,), device=samples.device, generator=generator)
    return samples[idx]


def code_counts(codes: torch.Tensor, num_codes: int, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """How often each of ``num_codes`` codes occurs in ``codes [N]``, as ``dtype``, on their device.

    ``torch.bincount`` would do, but on CUDA it reads the largest code back to the host (a sync)
    even with ``minlength``; a scatter-add of ones does not. Float counts are exact up to 2^24 per
    code, so the atomic adds give the same counts in any order.
    """
    return torch.zeros(num_codes, dtype=dtype, device=codes.device).index_add_(
        0, codes, torch.ones(codes.shape[0], dtype=dtype, device=codes.device))


def nearest(samples: torch.Tensor, means: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
    """Index of the nearest mean (squared Euclidean) for every row of ``samples``.

    Uses ``argmax(-( |x|² - 2 x·c + |c|² ))`` like the official codebook lookup; rows are
    processed in chunks so the ``[N, K]`` distance matrix stays bounded.
    """
    c_sq = means.pow(2).sum(1)
    out = []
    for start in range(0, samples.shape[0], chunk):
        x = samples[start:start + chunk]
        dist = x.pow(2).sum(1, keepdim=True) - 2 * (x @ means.t()) + c_sq
        out.append(dist.argmin(dim=1))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=samples.device)


def kmeans(
    samples: torch.Tensor,
    num_clusters: int,
    num_iters: int = 50,
    max_samples: int | None = 8192,
    generator: torch.Generator | None = None,
    initial: torch.Tensor | None = None,
) -> KMeansResult:
    """Lloyd's k-means on ``samples [N, D]`` (computed in float32), see the module docstring.

    ``initial [K, D]`` fixes the starting means (tests and benchmarks compare runs from one start).
    """
    if samples.dim() != 2 or samples.shape[0] == 0:
        raise ValueError(f"kmeans needs a non-empty [N, D] tensor, got {tuple(samples.shape)}")
    if num_iters < 1:
        raise ValueError(f"kmeans needs num_iters >= 1, got {num_iters}")
    full = samples.detach().float()
    data = full
    if max_samples is not None and full.shape[0] > max_samples:
        pick = torch.randperm(full.shape[0], device=full.device, generator=generator)[:max_samples]
        data = full[pick]
    n, dim = data.shape
    if initial is not None:
        if tuple(initial.shape) != (num_clusters, dim):
            raise ValueError(f"kmeans: initial means must be [{num_clusters}, {dim}], got {tuple(initial.shape)}")
        means = initial.detach().float().to(data.device)
    else:
        means = initial_means(data, num_clusters, generator)
    prev: torch.Tensor | None = None
    converged = False
    it = 0
    for it in range(1, num_iters + 1):
        assign = nearest(data, means)
        if prev is not None and torch.equal(assign, prev):
            converged = True  # same assignment -> same means as the previous update: fixed point
            break
        counts = code_counts(assign, num_clusters)
        sums = torch.zeros(num_clusters, dim, dtype=data.dtype, device=data.device)
        sums.index_add_(0, assign, data)
        nonempty = counts > 0
        means = torch.where(nonempty[:, None], sums / counts.clamp(min=1)[:, None].to(data.dtype), means)
        prev = assign
    if data is full and prev is not None:
        # ``prev`` is the assignment the final means were averaged from (official ``bins``).
        final_assign = prev
    else:
        final_assign = nearest(full, means)
    cluster_size = code_counts(final_assign, num_clusters, full.dtype)
    return KMeansResult(means=means, cluster_size=cluster_size, iterations=it, converged=converged, num_samples=n)

"""Codebook health: code utilisation and perplexity per quantizer layer over many batches, collapse warnings.

Why: the quantizer's own ``QuantizerOutput.metrics`` describe one batch. A batch of 4 x 1 s holds
200 frames, so with 1024 codes its usage is at most 20 % and its perplexity at most 200 even
for a perfect codebook: one batch cannot tell a healthy codebook from a collapsing one.
:class:`CodebookHealth` keeps the code histogram of each layer over the last ``window`` batches
(a ring of per-batch histograms, so the window is exact and old batches drop out) and reports

* ``usage`` — the fraction of the ``codebook_size`` codes used at least once in the window;
* ``perplexity`` — ``exp(entropy)`` of the window's code histogram: ``k`` for codes spread
  uniformly over ``k`` entries, 1 for a single code.

It also watches for collapse (perplexity or usage below a threshold) and returns one warning
per layer per collapse episode, plus one note when the layer recovers, so a long run does not
print the same warning at every log step.

Core knows no concrete quantizer here: only ``QuantizerOutput.codes [B, Q, T]`` and the
codebook size from the tokenizer interface.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch


def batch_histogram(codes: torch.Tensor, codebook_size: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Code counts ``[Q, K]`` (int64, on ``codes``' device) of ``codes [B, Q, T]``.

    ``mask [B, T]`` (True on frames with real audio) leaves out padding frames: zero-padded audio
    maps to one code and would inflate its count. No host synchronisation (scatter, no boolean
    indexing), so it can run on every training batch on a GPU.
    """
    if codes.dim() != 3:
        raise ValueError(f"codes must be [B, Q, T], got shape {tuple(codes.shape)}")
    b, q, t = codes.shape
    idx = codes.detach().long().transpose(0, 1).reshape(q, b * t)
    if mask is None:
        weights = torch.ones_like(idx)
    else:
        if tuple(mask.shape) != (b, t):
            raise ValueError(f"mask must be [B, T] = {(b, t)}, got {tuple(mask.shape)}")
        weights = mask.to(idx.device).long()[:, None, :].expand(b, q, t).transpose(0, 1).reshape(q, b * t)
    hist = torch.zeros(q, codebook_size, dtype=torch.int64, device=codes.device)
    return hist.scatter_add_(1, idx, weights)


def perplexity(counts: torch.Tensor) -> float:
    """``exp`` of the entropy (nats) of one layer's histogram ``[K]``; NaN for an empty histogram."""
    c = counts.detach().double().cpu()
    n = float(c.sum())
    if n <= 0:
        return float("nan")
    p = c[c > 0] / n
    return math.exp(float(-(p * p.log()).sum()))


def usage(counts: torch.Tensor) -> float:
    """Fraction of the ``K`` codes of a histogram ``[K]`` used at least once."""
    return float((counts > 0).sum()) / int(counts.numel())


def layer_metrics(hist: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """``{prefix}layer{i}_usage`` and ``{prefix}layer{i}_perplexity`` of a histogram ``[Q, K]``."""
    out: dict[str, float] = {}
    for i, counts in enumerate(hist):
        out[f"{prefix}layer{i}_usage"] = usage(counts)
        out[f"{prefix}layer{i}_perplexity"] = perplexity(counts)
    return out


class CodebookHealth:
    """Running per-layer code histogram over the last ``window`` batches, with collapse detection.

    Args:
        codebook_size: codes per layer (``K``).
        window: batches kept in the histogram (>= 1).
        collapse_perplexity: a layer collapses when its window perplexity falls below this (None: off).
        collapse_usage: ... or when its window usage (fraction of codes) falls below this (None: off).

    :meth:`update` adds one batch (on the codes' device, no sync); :meth:`total` is the window
    histogram ``[Q, K]``; :meth:`check` turns a histogram (e.g. summed over processes) into
    warning lines. ``state_dict``/``load_state_dict`` carry the window through checkpoints.
    """

    def __init__(
        self,
        codebook_size: int,
        *,
        window: int = 100,
        collapse_perplexity: float | None = 2.0,
        collapse_usage: float | None = 0.01,
    ) -> None:
        if codebook_size < 1 or window < 1:
            raise ValueError(f"codebook_size and window must be >= 1, got {codebook_size}, {window}")
        self.codebook_size = int(codebook_size)
        self.window = int(window)
        self.collapse_perplexity = collapse_perplexity
        self.collapse_usage = collapse_usage
        self._ring: torch.Tensor | None = None  # [window, Q, K] int64, per-batch histograms
        self._total: torch.Tensor | None = None  # [Q, K] int64, the ring's sum
        self.pos = 0  # next ring slot to overwrite
        self.filled = 0  # batches in the window (<= window)
        self.collapsed: set[int] = set()  # layers inside a collapse episode (warned already)

    # ------------------------------------------------------------------ the window
    def _allocate(self, num_layers: int, device: torch.device) -> None:
        self._ring = torch.zeros(self.window, num_layers, self.codebook_size, dtype=torch.int64, device=device)
        self._total = torch.zeros(num_layers, self.codebook_size, dtype=torch.int64, device=device)

    def update(self, codes: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Add the codes ``[B, Q, T]`` of one batch; the batch ``window`` batches ago drops out."""
        hist = batch_histogram(codes, self.codebook_size, mask)
        if self._ring is None or self._ring.shape[1] != hist.shape[0] or self._ring.device != hist.device:
            self._allocate(hist.shape[0], hist.device)
            self.pos = self.filled = 0
        assert self._ring is not None and self._total is not None
        self._total += hist - self._ring[self.pos]
        self._ring[self.pos] = hist
        self.pos = (self.pos + 1) % self.window
        self.filled = min(self.filled + 1, self.window)

    def total(self) -> torch.Tensor | None:
        """The window's histogram ``[Q, K]`` (None before the first batch)."""
        return self._total

    def metrics(self, hist: torch.Tensor | None = None, prefix: str = "") -> dict[str, float]:
        """Per-layer usage and perplexity of ``hist`` (default: this process's window)."""
        hist = self._total if hist is None else hist
        return {} if hist is None else layer_metrics(hist, prefix)

    # ------------------------------------------------------------------ collapse
    def is_collapsed(self, counts: torch.Tensor) -> bool:
        """Whether one layer's histogram ``[K]`` is below a collapse threshold (empty: no verdict)."""
        if int(counts.sum()) == 0:
            return False
        ppl, use = perplexity(counts), usage(counts)
        low_ppl = self.collapse_perplexity is not None and ppl < self.collapse_perplexity
        low_use = self.collapse_usage is not None and use < self.collapse_usage
        return low_ppl or low_use

    def check(self, hist: torch.Tensor | None = None) -> list[str]:
        """Messages for layers that collapsed or recovered since the last check (one per episode).

        A layer is warned about when it enters collapse, then stays silent while it remains
        collapsed; once it is healthy again one recovery note re-arms the warning.
        """
        hist = self._total if hist is None else hist
        if hist is None:
            return []
        frames = int(hist[0].sum()) if hist.shape[0] else 0
        lines = []
        for i, counts in enumerate(hist):
            bad = self.is_collapsed(counts)
            if bad and i not in self.collapsed:
                self.collapsed.add(i)
                lines.append(self._collapse_message(i, counts, frames))
            elif not bad and i in self.collapsed and int(counts.sum()) > 0:
                self.collapsed.discard(i)
                lines.append(
                    f"codebook layer {i} recovered: perplexity {perplexity(counts):.2f}, usage "
                    f"{usage(counts):.1%} of {self.codebook_size} codes over the last {self.filled} batches"
                )
        return lines

    def _collapse_message(self, layer: int, counts: torch.Tensor, frames: int) -> str:
        """The warning: which layer, how bad, against which threshold, and what to try."""
        ppl, use = perplexity(counts), usage(counts)
        used = int((counts > 0).sum())
        limits = []
        if self.collapse_perplexity is not None:
            limits.append(f"perplexity < {self.collapse_perplexity:g}")
        if self.collapse_usage is not None:
            limits.append(f"usage < {self.collapse_usage:.1%}")
        return (
            f"WARNING: codebook collapse in quantizer layer {layer}: perplexity {ppl:.2f}, usage {use:.1%} "
            f"({used} of {self.codebook_size} codes) over the last {self.filled} batches ({frames} frames; "
            f"threshold {' or '.join(limits)}). Things to try: the quantizer's dead-code replacement, "
            "k-means initialisation of the codebooks, a lower weight of the commitment term "
            "(losses.<term>.weight), or a lower learning rate (trainer.lr_generator)."
        )

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, Any]:
        """The window (int32 on CPU: counts per batch are small) and its position.

        ``reduce`` (e.g. a sum over processes) is applied to the ring first, so one checkpoint
        holds the window of the whole run; restore it with ``counts=False`` on the other ranks.
        """
        ring = self._ring
        if ring is not None and reduce is not None:
            ring = reduce(ring)
        ring = None if ring is None else ring.to("cpu", torch.int32)
        return {"window": self.window, "codebook_size": self.codebook_size, "pos": self.pos,
                "filled": self.filled, "ring": ring}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu", counts: bool = True) -> bool:
        """Restore a window; False (and an empty window) when it was taken with other sizes.

        ``counts=False`` keeps the position but zeroes the counts: the other processes of a
        distributed run, whose share of a summed window is already in rank 0's counts.
        """
        ring = state.get("ring")
        same_sizes = (int(state.get("window", -1)) == self.window
                      and int(state.get("codebook_size", -1)) == self.codebook_size)
        if ring is None or not same_sizes:
            self._ring = self._total = None
            self.pos = self.filled = 0
            return ring is None  # an empty saved window is restored exactly
        self._ring = ring.to(device, torch.int64)
        if not counts:
            self._ring.zero_()
        self._total = self._ring.sum(dim=0)
        self.pos = int(state["pos"])
        self.filled = int(state["filled"])
        return True

"""Adversarial (eq. 6, 7) and feature-matching (eq. 8) losses over a set of discriminators.

Inputs are flat lists over *sub*-discriminators: concatenate the ``logits``/``fmaps`` lists that
each discriminator module (MPD, MSD, MS-STFT) returns, e.g. ``logits = mpd_l + msd_l + stft_l``,
so "all K discriminators" of the paper are the 5 + 3 + 5 sub-discriminators.

Paper vs official code:

* The paper uses hinge losses averaged over the K discriminators (``kind="hinge"``,
  ``reduction="mean"``). The official trainer uses least squares summed over them
  (``kind="lsgan"``, ``reduction="sum"``).
* The paper's feature matching is relative (per layer mean|r−g| / mean|r|, averaged over the
  K·L layers: ``kind="relative"``, ``reduction="mean"``). The official one is absolute and summed,
  multiplied by 2 inside the loss (``kind="absolute"``, ``reduction="sum"``; the 2 is the
  ``feature_matching`` weight of the weighted total here).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from tokenizer_bench.core.interfaces import DISCRIMINATOR_FEATURES, DISCRIMINATOR_LOGITS

Kind = Literal["hinge", "lsgan"]
Reduction = Literal["mean", "sum"]


def _reduce(terms: list[torch.Tensor], reduction: str, who: str, num_terms: int | None = None) -> torch.Tensor:
    """Sum or mean of the terms. ``num_terms`` is the mean's denominator when this call sees only
    part of the discriminators (one per pass, to hold one discriminator's activations at a time):
    the parts of every pass then add up to the loss over all of them."""
    if not terms:
        raise ValueError(f"{who}: no discriminator outputs were given")
    if num_terms is not None and num_terms < len(terms):
        raise ValueError(f"{who}: num_terms={num_terms} is less than the {len(terms)} terms given")
    total = torch.stack(terms).sum()
    return total / (num_terms or len(terms)) if reduction == "mean" else total


def _check(kind: str, reduction: str) -> None:
    if kind not in ("hinge", "lsgan"):
        raise ValueError(f"adversarial kind must be 'hinge' or 'lsgan', got {kind!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def generator_adversarial_loss(
    fake_logits: Sequence[torch.Tensor],
    kind: Kind = "hinge",
    reduction: Reduction = "mean",
    num_terms: int | None = None,
) -> torch.Tensor:
    """Eq. 6: hinge ``mean(relu(1 − D_k(x̂)))`` or LSGAN ``mean((1 − D_k(x̂))²)``, reduced over k."""
    _check(kind, reduction)
    if kind == "hinge":
        terms = [torch.relu(1 - g).mean() for g in fake_logits]
    else:
        terms = [(1 - g).pow(2).mean() for g in fake_logits]
    return _reduce(terms, reduction, "generator_adversarial_loss", num_terms)


def discriminator_adversarial_loss(
    real_logits: Sequence[torch.Tensor],
    fake_logits: Sequence[torch.Tensor],
    kind: Kind = "hinge",
    reduction: Reduction = "mean",
    num_terms: int | None = None,
) -> torch.Tensor:
    """Eq. 7: hinge ``mean(relu(1 − D_k(x))) + mean(relu(1 + D_k(x̂)))`` or LSGAN
    ``mean((1 − D_k(x))²) + mean(D_k(x̂)²)``, reduced over k. Pass ``x̂`` detached."""
    _check(kind, reduction)
    if len(real_logits) != len(fake_logits):
        raise ValueError(f"{len(real_logits)} real vs {len(fake_logits)} fake discriminator outputs")
    if kind == "hinge":
        terms = [torch.relu(1 - r).mean() + torch.relu(1 + g).mean() for r, g in zip(real_logits, fake_logits)]
    else:
        terms = [(1 - r).pow(2).mean() + g.pow(2).mean() for r, g in zip(real_logits, fake_logits)]
    return _reduce(terms, reduction, "discriminator_adversarial_loss", num_terms)


def feature_matching_loss(
    real_fmaps: Sequence[Sequence[torch.Tensor]],
    fake_fmaps: Sequence[Sequence[torch.Tensor]],
    kind: Literal["relative", "absolute"] = "relative",
    reduction: Reduction = "mean",
    eps: float = 1e-8,
    num_terms: int | None = None,
) -> torch.Tensor:
    """Eq. 8: per layer ``mean|r − g| / mean|r|`` (relative) or ``mean|r − g|`` (absolute).

    The real feature maps are detached: they do not depend on the generator, so this changes no
    generator gradient and saves a useless backward through the discriminators. ``reduction``
    averages or sums over all (discriminator, layer) pairs; ``num_terms`` is the number of pairs
    of the whole loss when this call sees only some discriminators.
    """
    if kind not in ("relative", "absolute"):
        raise ValueError(f"feature matching kind must be 'relative' or 'absolute', got {kind!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if len(real_fmaps) != len(fake_fmaps):
        raise ValueError(f"{len(real_fmaps)} real vs {len(fake_fmaps)} fake discriminators' feature maps")
    terms = []
    for k, (rs, gs) in enumerate(zip(real_fmaps, fake_fmaps)):
        if len(rs) != len(gs):
            raise ValueError(f"discriminator {k}: {len(rs)} real vs {len(gs)} fake feature maps")
        for layer, (r, g) in enumerate(zip(rs, gs)):
            if r.shape != g.shape:
                raise ValueError(
                    f"discriminator {k} layer {layer}: real {tuple(r.shape)} vs fake {tuple(g.shape)} feature map; "
                    "crop the reconstruction to the input length first"
                )
            r = r.detach()
            diff = (r - g).abs().mean()
            terms.append(diff / r.abs().mean().clamp_min(eps) if kind == "relative" else diff)
    return _reduce(terms, reduction, "feature_matching_loss", num_terms)


class AdversarialLoss(nn.Module):
    """GAN objective over all sub-discriminators; ``forward`` is the generator's loss (eq. 6)."""

    inputs = DISCRIMINATOR_LOGITS

    def __init__(self, kind: Kind = "hinge", reduction: Reduction = "mean") -> None:
        super().__init__()
        _check(kind, reduction)
        self.kind, self.reduction = kind, reduction

    def forward(self, fake_logits: Sequence[torch.Tensor], num_terms: int | None = None) -> torch.Tensor:
        return generator_adversarial_loss(fake_logits, self.kind, self.reduction, num_terms)

    def generator_loss(self, fake_logits: Sequence[torch.Tensor], num_terms: int | None = None) -> torch.Tensor:
        return generator_adversarial_loss(fake_logits, self.kind, self.reduction, num_terms)

    def discriminator_loss(
        self,
        real_logits: Sequence[torch.Tensor],
        fake_logits: Sequence[torch.Tensor],
        num_terms: int | None = None,
    ) -> torch.Tensor:
        return discriminator_adversarial_loss(real_logits, fake_logits, self.kind, self.reduction, num_terms)


class FeatureMatchingLoss(nn.Module):
    """Eq. 8 as a module (``relative``/``absolute``, ``mean``/``sum``); see :func:`feature_matching_loss`."""

    inputs = DISCRIMINATOR_FEATURES

    def __init__(
        self, kind: Literal["relative", "absolute"] = "relative", reduction: Reduction = "mean", eps: float = 1e-8
    ) -> None:
        super().__init__()
        if kind not in ("relative", "absolute"):
            raise ValueError(f"feature matching kind must be 'relative' or 'absolute', got {kind!r}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.kind, self.reduction, self.eps = kind, reduction, float(eps)

    def forward(
        self,
        real_fmaps: Sequence[Sequence[torch.Tensor]],
        fake_fmaps: Sequence[Sequence[torch.Tensor]],
        num_terms: int | None = None,
    ) -> torch.Tensor:
        return feature_matching_loss(real_fmaps, fake_fmaps, self.kind, self.reduction, self.eps, num_terms)


def register_losses(register) -> None:
    register("adversarial", AdversarialLoss)
    register("feature_matching", FeatureMatchingLoss)

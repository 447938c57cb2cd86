"""Eq. 10: the generator's total loss as a weighted sum of named terms.

The paper omits the weights; the defaults are the official trainer's: mel 45, waveform L1 500,
commitment 10, distillation 120, feature matching 2, adversarial 1. (The official code puts the
45 on the first mel resolution and the 2 inside its feature loss; here every weight lives in this
one table, so each loss module returns its unweighted value and the log shows both.)
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

DEFAULT_WEIGHTS: dict[str, float] = {
    "mel": 45.0,
    "waveform": 500.0,
    "commitment": 10.0,
    "distillation": 120.0,
    "feature_matching": 2.0,
    "adversarial": 1.0,
}


def resolve_weights(weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Defaults overridden by ``weights``; an unknown name is an error listing the known terms."""
    resolved = dict(DEFAULT_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise ValueError(
                f"unknown loss weight {name!r}; known terms: {', '.join(DEFAULT_WEIGHTS)}"
            )
        try:
            resolved[name] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"loss weight {name!r} must be a number, got {value!r}") from None
    return resolved


def weighted_total(
    terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(Σ_name w_name · term_name, {name: w_name · term_name})`` over the terms given.

    Terms that are absent (e.g. no distillation for a baseline, no adversarial terms before the
    discriminators start) simply do not contribute; an unknown term name is an error.
    """
    w = resolve_weights(weights)
    if not terms:
        raise ValueError("weighted_total needs at least one loss term")
    weighted: dict[str, torch.Tensor] = {}
    for name, value in terms.items():
        if name not in w:
            raise ValueError(f"unknown loss term {name!r}; known terms: {', '.join(DEFAULT_WEIGHTS)}")
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"loss term {name!r} must be a scalar tensor, got {shape}")
        weighted[name] = w[name] * value
    total = torch.stack(list(weighted.values())).sum()
    return total, weighted


class WeightedSum(nn.Module):
    """Eq. 10 with weights from config: ``forward(terms) -> (total, weighted terms)``."""

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.weights = resolve_weights(weights)

    def forward(self, terms: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return weighted_total(terms, self.weights)


def register_losses(register) -> None:
    register("weighted_sum", WeightedSum)

"""Optimisers and learning-rate schedules of the GAN (generator side and discriminator side).

Adam for both, as the paper and the official code (``lr`` 1e-4, ``betas`` from the config), by
default with PyTorch's fused kernel (one pass over all parameters instead of a dozen tensor ops
each: measured in benchmarks/results/train_step.md; same update up to float rounding). The
paper's learning-rate decay of 0.98 is applied per epoch (``lr_decay_every: epoch``) or every N
optimiser steps (``lr_decay_every: N``): an :class:`~torch.optim.lr_scheduler.ExponentialLR` that
the trainer steps at those moments, so its state (and the current lr) travels in checkpoints.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ..train_config import TrainerConfig


def trainable(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]


def build_optimizer(params: Iterable[nn.Parameter], lr: float, cfg: TrainerConfig) -> torch.optim.Optimizer:
    params = trainable(params)
    if not params:
        raise ValueError("no trainable parameters to optimise")
    kernel = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[cfg.adam_implementation]
    return torch.optim.Adam(
        params, lr=lr, betas=tuple(cfg.betas), eps=cfg.adam_eps, weight_decay=cfg.weight_decay, **kernel
    )


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainerConfig) -> torch.optim.lr_scheduler.ExponentialLR:
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)


def decay_due(cfg: TrainerConfig, *, step: int | None = None, epoch_ended: bool = False) -> bool:
    """Whether the schedulers step now: at an epoch end, or after every ``lr_decay_every``-th step."""
    if cfg.lr_decay_every == "epoch":
        return epoch_ended
    return step is not None and not epoch_ended and step > 0 and step % int(cfg.lr_decay_every) == 0


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])

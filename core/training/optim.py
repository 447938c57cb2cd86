"""Optimisers and learning-rate schedules of the GAN (generator side and discriminator side).

Adam for both, as the paper and the official code (``lr`` 1e-4, ``betas`` from the config), by
default with PyTorch's fused kernel (one pass over all parameters instead of a dozen tensor ops
each: measured in benchmarks/results/train_step.md; same update up to float rounding). The
paper's learning-rate decay of 0.98 is applied per epoch (``lr_decay_every: epoch``) or every N
optimiser steps (``lr_decay_every: N``). ``lr_schedule: cosine`` instead anneals every step from
the lr to ``lr_min`` over the run, as the official trainer's ``CosineAnnealingLR``; either can
start with a linear warm-up (``lr_warmup_steps``). :class:`StepSchedule` computes the rate from
two counters (steps and decay events), which travel in checkpoints, so a resumed run continues
with exactly the rates of an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from tokenizer_bench.core.train_config import TrainerConfig


def trainable(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]


def build_optimizer(params: Iterable[nn.Parameter], lr: float, cfg: TrainerConfig) -> torch.optim.Optimizer:
    params = trainable(params)
    if not params:
        raise ValueError("no trainable parameters to optimise")
    kernels = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}
    kernel = kernels[cfg.adam_implementation]
    return torch.optim.Adam(
        params, lr=lr, betas=(float(cfg.betas[0]), float(cfg.betas[1])), eps=cfg.adam_eps,
        weight_decay=cfg.weight_decay, **kernel,
    )


class StepSchedule:
    """The learning rate of one optimiser as a closed form of two counters, set on its param groups.

    ``steps`` counts optimiser steps taken, ``decays`` the exponential decay events (epoch ends or
    every ``lr_decay_every`` steps). With ``w = lr_warmup_steps`` and ``s = steps``, the rate of
    the next step is ``base · warmup(s) · shape``:

    * ``warmup(s) = (s + 1) / (w + 1)`` for ``s < w``, else 1 (reaches ``base`` at ``s = w``);
    * ``exponential`` (the paper): ``shape = lr_decay ** decays``;
    * ``cosine`` (the official trainer's ``CosineAnnealingLR(T_max=total_steps)``): for ``s >= w``,
      ``lr_min + (base - lr_min) · ½(1 + cos(π · min(1, (s - w) / (total_steps - w))))``.

    A closed form of counters (not a chain of multiplications) so a checkpoint needs only the
    counters and a resumed run gets the very same rates; the shape's parameters come from the
    config, so a resumed run follows the config it is resumed with.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainerConfig, total_steps: int | None = None) -> None:
        if cfg.lr_schedule == "cosine" and not total_steps:
            raise ValueError("lr_schedule cosine needs the run's total number of optimiser steps")
        self.optimizer = optimizer
        self.kind = cfg.lr_schedule
        self.gamma = float(cfg.lr_decay)
        self.warmup_steps = int(cfg.lr_warmup_steps)
        self.total_steps = int(total_steps) if total_steps else None
        self.lr_min = float(cfg.lr_min)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.steps = 0
        self.decays = 0
        self.apply()

    def factor(self, base: float) -> float:
        """``lr / base`` after ``steps`` steps and ``decays`` decays (see the class docstring)."""
        s, w = self.steps, self.warmup_steps
        warm = (s + 1) / (w + 1) if s < w else 1.0
        if self.kind == "exponential":
            return warm * self.gamma**self.decays
        if s < w:
            return warm
        progress = min(1.0, (s - w) / max(1, self.total_steps - w))  # type: ignore[operator]
        low = self.lr_min / base
        return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * self.factor(base)

    def step(self, decay: bool = False) -> None:
        """After an optimiser step; ``decay``: an exponential decay event falls on this step too."""
        self.steps += 1
        self.decays += int(decay)
        self.apply()

    def decay(self) -> None:
        """An exponential decay event between steps (an epoch end)."""
        self.decays += 1
        self.apply()

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps": self.steps, "decays": self.decays}

    def load_state_dict(self, state: dict[str, Any], steps: int | None = None) -> None:
        """Counters from a checkpoint. ``ExponentialLR`` states of older checkpoints count decays
        in ``last_epoch`` and no steps; ``steps`` (the trainer's step) fills that in."""
        if "decays" in state:
            self.steps, self.decays = int(state["steps"]), int(state["decays"])
        else:
            self.decays = int(state["last_epoch"])
            self.steps = int(steps or 0)
        self.apply()


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainerConfig, total_steps: int | None = None
) -> StepSchedule:
    """The configured schedule (``trainer.lr_schedule``) of one optimiser; see :class:`StepSchedule`."""
    return StepSchedule(optimizer, cfg, total_steps)


def decay_due(cfg: TrainerConfig, *, step: int | None = None, epoch_ended: bool = False) -> bool:
    """Whether an exponential decay event falls now: at an epoch end, or after every
    ``lr_decay_every``-th step (never for the cosine schedule, which moves every step)."""
    if cfg.lr_schedule != "exponential":
        return False
    if cfg.lr_decay_every == "epoch":
        return epoch_ended
    return step is not None and not epoch_ended and step > 0 and step % int(cfg.lr_decay_every) == 0


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])

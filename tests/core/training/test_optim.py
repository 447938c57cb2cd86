"""Learning-rate schedules: exponential (the paper), cosine (the official trainer), warm-up; exact resume.

The cosine and warm-up rates are checked against the formulas written out here and against
PyTorch's own CosineAnnealingLR; the trainer's logged rates against the same formulas; and a run
interrupted after a checkpoint, then resumed, against an uninterrupted one (bit-exact).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.config import validate
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.train_config import TrainConfig, TrainerConfig
from tokenizer_bench.core.training import Trainer
from tokenizer_bench.core.training import checkpoint as ckpt
from tokenizer_bench.core.training.optim import StepSchedule, build_scheduler, decay_due

from tokenizer_bench.plugins.recipes import _testing as _tiny
from tokenizer_bench.plugins.recipes._testing import Stop, stop_after_checkpoint

LR = 1e-3


def optimizer(lr: float = LR) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def rates(sched: StepSchedule, steps: int) -> list[float]:
    """The lr of optimiser steps 1..steps (the rate set before each step)."""
    out = []
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        sched.step()
    return out


def cosine_by_hand(s: int, *, lr: float, lr_min: float, warmup: int, total: int) -> float:
    """Rate after ``s`` steps: linear warm-up lr·(s+1)/(w+1), then cosine from lr to lr_min."""
    if s < warmup:
        return lr * (s + 1) / (warmup + 1)
    progress = min(1.0, (s - warmup) / (total - warmup))
    return lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * progress))


def test_cosine_with_warmup_follows_the_formula():
    cfg = TrainerConfig(lr_schedule="cosine", lr_min=1e-5, lr_warmup_steps=3)
    sched = build_scheduler(optimizer(), cfg, total_steps=13)
    got = rates(sched, 16)
    want = [cosine_by_hand(s, lr=LR, lr_min=1e-5, warmup=3, total=13) for s in range(16)]
    assert got == pytest.approx(want, rel=1e-12, abs=0)
    # by hand: warm-up 1/4, 2/4, 3/4 of lr; the peak at s=3; half-way (s=8) the mean of lr and
    # lr_min; lr_min at the end and after it
    assert got[:4] == pytest.approx([LR / 4, LR / 2, 3 * LR / 4, LR])
    assert got[8] == pytest.approx((LR + 1e-5) / 2)
    assert got[13] == got[15] == pytest.approx(1e-5)


def test_cosine_without_warmup_equals_torch_cosine_annealing():
    total = 20
    sched = build_scheduler(optimizer(), TrainerConfig(lr_schedule="cosine", lr_min=2e-5), total_steps=total)
    opt = optimizer()
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=2e-5)
    want = []
    for _ in range(total + 1):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert rates(sched, total + 1) == pytest.approx(want, rel=1e-9)


def test_exponential_default_and_with_warmup():
    cfg = TrainerConfig(lr_decay=0.5, lr_decay_every=2)
    assert cfg.lr_schedule == "exponential" and cfg.lr_warmup_steps == 0 and cfg.lr_min == 0.0
    sched = build_scheduler(optimizer(), cfg)
    seen = []
    for step in range(1, 7):
        sched.step(decay=decay_due(cfg, step=step))
        seen.append(sched.get_last_lr()[0])
    assert seen == pytest.approx([LR * 0.5 ** (s // 2) for s in range(1, 7)])
    # warm-up multiplies the exponential rate: (s+1)/(w+1) for s < w; decays at epoch ends
    cfg = TrainerConfig(lr_decay=0.5, lr_warmup_steps=2)
    sched = build_scheduler(optimizer(), cfg)
    assert sched.get_last_lr()[0] == pytest.approx(LR / 3)
    sched.step()
    sched.decay()  # an epoch end
    assert sched.get_last_lr()[0] == pytest.approx(LR * 2 / 3 * 0.5)
    sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(LR * 0.5)
    # the cosine schedule never takes exponential decays
    assert not decay_due(TrainerConfig(lr_schedule="cosine"), epoch_ended=True)


def test_state_resumes_exactly_and_reads_old_exponential_states():
    cfg = TrainerConfig(lr_schedule="cosine", lr_warmup_steps=2)
    a = build_scheduler(optimizer(), cfg, total_steps=10)
    for _ in range(5):
        a.step()
    b = build_scheduler(optimizer(), cfg, total_steps=10)
    b.load_state_dict(a.state_dict())
    assert rates(a, 6) == rates(b, 6)  # bit-exact: a closed form of the counters
    # an ExponentialLR state (checkpoints written before lr_schedule existed): last_epoch = decays
    opt = optimizer()
    old = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.98)
    for _ in range(3):
        opt.step()
        old.step()
    new = build_scheduler(optimizer(), TrainerConfig())
    new.load_state_dict(old.state_dict(), steps=40)
    assert (new.decays, new.steps) == (3, 40)
    assert new.get_last_lr()[0] == pytest.approx(old.get_last_lr()[0], rel=1e-12)


def test_invalid_schedule_settings():
    with pytest.raises(ValueError, match="total number"):
        StepSchedule(optimizer(), TrainerConfig(lr_schedule="cosine"))
    with pytest.raises(ConfigError, match="lr_min"):
        validate({"lr_schedule": "cosine", "lr_min": 1.0}, TrainerConfig)
    with pytest.raises(ConfigError, match="lr_schedule"):
        validate({"lr_schedule": "linear"}, TrainerConfig)


# --------------------------------------------------------------------------- in the trainer
def records(run_dir: Path) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out.setdefault(rec["step"], {}).update(
            {k: v for k, v in rec.items() if k.startswith(("loss/", "lr/", "codebook_window/", "valid/"))})
    return out


def test_cosine_schedule_in_training_resumes_exactly(tmp_path):
    corpus = _tiny.make_corpus(tmp_path)
    data = _tiny.tiny_config(corpus, tmp_path, max_steps=7, checkpoint_every=3, lr_schedule="cosine",
                             lr_min=1e-6, lr_warmup_steps=2, lr_generator=2e-4)
    cfg = validate(data, TrainConfig)
    _tiny.write_fake_cache(cfg, corpus)
    ref = Trainer(cfg, output_dir=tmp_path / "ref")
    ref.fit()
    want = records(ref.run_dir)
    # logged after the step's schedule update: the rate of the next step
    for s in range(1, 8):
        assert want[s]["lr/generator"] == pytest.approx(
            cosine_by_hand(s, lr=2e-4, lr_min=1e-6, warmup=2, total=7), rel=1e-12)
        assert want[s]["lr/discriminator"] == pytest.approx(
            cosine_by_hand(s, lr=1e-4, lr_min=1e-6, warmup=2, total=7), rel=1e-12)
    assert ckpt.load_trainer_state(ckpt.latest_checkpoint(ref.run_dir))["scheduler_g"] == {
        "kind": "cosine", "steps": 7, "decays": 0}

    first = Trainer(cfg, output_dir=tmp_path / "cut")
    stop_after_checkpoint(first, 3)
    with pytest.raises(Stop):
        first.fit()
    resumed = Trainer(cfg, output_dir=tmp_path / "cut", resume=True)
    assert resumed.step == 3 and resumed.schedulers["g"].steps == 3
    expected = cosine_by_hand(3, lr=2e-4, lr_min=1e-6, warmup=2, total=7)
    assert resumed.schedulers["g"].get_last_lr() == [pytest.approx(expected)]
    resumed.fit()
    got = records(resumed.run_dir)
    assert sorted(got) == list(range(1, 8))
    for s in range(1, 8):
        assert got[s] == want[s], s  # bit-exact: losses, rates and the code-histogram window

"""A loss term added in a YAML config trains a tiny codec: the open ``losses:`` mapping.

``tiny_stft.yaml`` lists ``multi_resolution_stft`` as the term ``stft`` of the open ``losses:``
mapping; the built-in recipe computes it from the inputs the loss declares and adds it to the
generator's total. The tests go through the public API only (``train``, ``Trainer.train_step``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.config import load_config
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer, train

CONFIG = Path(__file__).with_name("tiny_stft.yaml")


def _overrides(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [f"data.train=[{corpus}]", f"trainer.output_dir={out}", *extra]


def test_the_loss_trains_through_the_config(corpus, tmp_path):
    summary = train(CONFIG, _overrides(corpus, tmp_path / "run"))
    assert summary["step"] == 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss/generator_total" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        assert math.isfinite(r["loss/stft"]) and r["loss/stft"] > 0
        assert r["weighted/stft"] == pytest.approx(1.0 * r["loss/stft"], rel=1e-6)  # weight 1.0 in the YAML
        # the total is the sum of exactly the listed terms, the added one among them
        listed = [k for k in r if k.startswith("weighted/")]
        assert sorted(listed) == ["weighted/commitment", "weighted/stft", "weighted/waveform"]
        assert r["loss/generator_total"] == pytest.approx(sum(r[k] for k in listed), rel=1e-5)


def _one_step(corpus: Path, out: Path, *extra: str) -> tuple[dict[str, float], list[torch.Tensor], list[torch.Tensor]]:
    """The scalars of one ``train_step`` on the first batch, and the generator's tensors before and after.

    ``adam_eps=1`` makes Adam's first update ``lr·g/(|g| + 1)``, monotone in the gradient; with
    the default 1e-8 it is ``lr·sign(g)``, blind to a term that changes no gradient's sign.
    """
    cfg = load_config(CONFIG, TrainConfig, _overrides(corpus, out, "trainer.adam_eps=1.0", *extra))
    trainer = Trainer(cfg)
    params = list(trainer.tokenizer.generator.parameters())
    before = [p.detach().clone() for p in params]
    scalars = trainer.train_step(next(iter(trainer.data.loader(0))))
    return scalars, before, [p.detach().clone() for p in params]


def test_the_generator_gets_the_term_gradient(corpus, tmp_path):
    # Same seed, same batch: the runs differ only in the stft term. Without it and at weight 0
    # the generator's first update is the same; at weight 1 the term's gradient changes it.
    none, init_none, after_none = _one_step(corpus, tmp_path / "none", "losses.stft=null")
    zero, init_zero, after_zero = _one_step(corpus, tmp_path / "zero", "losses.stft.weight=0.0")
    one, init_one, after_one = _one_step(corpus, tmp_path / "one", "losses.stft.weight=1.0")
    for a, b, c in zip(init_none, init_zero, init_one):
        assert torch.equal(a, b) and torch.equal(a, c)  # identical initialisation

    assert "loss/stft" not in none and "weighted/stft" not in none
    assert zero["weighted/stft"] == 0.0 and math.isfinite(zero["loss/stft"]) and zero["loss/stft"] > 0
    assert one["loss/stft"] == pytest.approx(zero["loss/stft"], rel=1e-6)  # same forward before the step
    assert all(torch.equal(a, b) for a, b in zip(after_none, after_zero))
    trained = [i for i, (a, b) in enumerate(zip(init_zero, after_zero)) if not torch.equal(a, b)]
    changed = [i for i in trained if not torch.equal(after_zero[i], after_one[i])]
    assert trained and len(changed) >= 0.9 * len(trained), f"{len(changed)} of {len(trained)} trained tensors moved"

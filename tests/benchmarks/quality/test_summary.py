"""Statistics and training facts of the small-scale quality benchmark, against hand computations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tokenizer_bench.benchmarks.quality.summary import (
    bootstrap_mean_ci,
    curve,
    paired_difference_ci,
    read_training_log,
    steps_to_reach,
    training_facts,
)
from tokenizer_bench.benchmarks.quality.variants import DEFAULT_VARIANTS, VARIANTS


def test_constant_sample_has_a_zero_width_interval():
    assert bootstrap_mean_ci([0.7] * 12) == pytest.approx((0.7, 0.7, 0.7))


def test_interval_of_a_two_point_sample_by_hand():
    # values {0, 1}, n = 20 (10 each): the bootstrap mean is Binomial(20, 1/2)/20, sd = sqrt(.25/20) = 0.112;
    # its 2.5/97.5 % quantiles are 6/20 and 14/20 (binomial table), i.e. 0.5 -/+ 0.2
    mean, lo, hi = bootstrap_mean_ci([0.0, 1.0] * 10, seed=1, draws=20000)
    assert mean == 0.5
    assert lo == pytest.approx(0.30, abs=0.051) and hi == pytest.approx(0.70, abs=0.051)


def test_paired_difference_removes_the_shared_utterance_effect():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.9, size=30)          # utterance difficulty, shared by both systems
    a, b = base + 0.02, base                       # a is better by exactly 0.02 on every utterance
    assert paired_difference_ci(a, b) == pytest.approx((0.02, 0.02, 0.02))
    # unpaired, the same samples' intervals overlap widely
    _, lo_a, _ = bootstrap_mean_ci(a)
    _, _, hi_b = bootstrap_mean_ci(b)
    assert lo_a < hi_b


def test_training_facts_from_a_hand_made_log(tmp_path):
    rows = [
        {"step": 10, "loss/discriminator": 2.0, "loss/mel": 3.0, "codebook/layer0_perplexity": 5.0, "steps_per_s": 0.5},
        {"step": 20, "loss/discriminator": 1.97},
        {"step": 30, "loss/discriminator": 1.90, "valid/mel": 1.5},   # first below 2.0 - 0.05
        {"step": 40, "loss/discriminator": 1.5, "valid/mel": 1.2, "loss/mel": 2.0},
        {"step": 40, "loss/discriminator": 1.4},                       # a resumed run repeats step 40
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"step\": 50, \"loss/disc")  # cut last line
    logged = read_training_log(path)
    assert len(logged) == 5
    assert curve(logged, "loss/discriminator") == [(10, 2.0), (20, 1.97), (30, 1.90), (40, 1.4)]
    facts = training_facts(logged, steps=400)
    assert facts["d_left_initial_at_step"] == 30
    assert facts["d_left_within_10pct"] is True        # 30 <= 40
    assert training_facts(logged, steps=200)["d_left_within_10pct"] is False  # 30 > 20
    assert facts["valid_mel_best"] == 1.2 and facts["train_mel_last"] == 2.0
    assert facts["codebook_perplexity_last"] == {"rvq1": 5.0}


def test_every_default_variant_is_a_packaged_config_that_loads():
    from tokenizer_bench.core.config import load_config
    from tokenizer_bench.core.train_config import TrainConfig

    budgets = set()
    for name in DEFAULT_VARIANTS:
        cfg = load_config(VARIANTS[name].config, TrainConfig)
        budgets.add((cfg.trainer.max_steps, cfg.data.batch_size, cfg.data.segment_seconds, cfg.seed))
    assert len(budgets) == 1  # an equal budget: same steps x batch x crop and seed everywhere


def test_budget_of_a_curve_exactly_log_linear_by_hand():
    # means 0.3 at step 100 and 0.5 at step 1000: +0.2 per decade, so 0.7 is two decades after step 100,
    # at step 10,000; every utterance lies on the same line, so the bootstrap interval has zero width
    values = [[0.3] * 5, [0.5] * 5]
    b = steps_to_reach([100, 1000], values, 0.7)
    assert b["slope_per_decade"] == pytest.approx(0.2)
    assert (b["step"], b["ci_low"], b["ci_high"]) == pytest.approx((10_000, 10_000, 10_000))


def test_budget_of_a_falling_metric_and_of_no_trend():
    # WER-like (lower is better): 80 % at 100 steps, 60 % at 1000 → 20 % two decades later
    assert steps_to_reach([100, 1000], [[80.0, 80.0], [60.0, 60.0]], 20.0,
                          higher_is_better=False)["step"] == pytest.approx(100_000)
    # a flat curve never reaches a higher target
    flat = steps_to_reach([100, 200, 400], [[0.5, 0.6]] * 3, 0.75)
    assert flat["step"] == float("inf") and flat["ci_high"] == float("inf")


def test_budget_interval_widens_with_utterance_spread():
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.05, size=20)                       # per-utterance level, shared by checkpoints
    slopes = 0.2 + rng.normal(0, 0.05, size=20)                  # per-utterance rise per decade
    steps = [100, 300, 1000]
    values = [[0.3 + o + s * np.log10(t / 100) for o, s in zip(offsets, slopes)] for t in steps]
    b = steps_to_reach(steps, values, 0.7)
    # the fit is exact on the means: 10^(2 + (0.7 - 0.3 - mean(o)) / mean(s))
    expected = 10 ** (2 + (0.4 - offsets.mean()) / slopes.mean())
    assert b["step"] == pytest.approx(expected, rel=1e-9)
    assert b["ci_low"] < b["step"] < b["ci_high"]


def test_discriminator_dip_that_returns_to_its_initial_loss_has_not_left():
    # the shape of a real run: a first window below 1.95, back at 2.0, then down for good at step 100
    rows = [{"step": s, "loss/discriminator": v}
            for s, v in [(25, 1.93), (50, 2.00), (75, 1.99), (100, 1.75), (125, 1.50), (150, 1.94)]]
    facts = training_facts(rows, steps=700)
    assert facts["d_left_initial_at_step"] == 100
    assert facts["d_left_within_10pct"] is False        # 100 > 70
    assert training_facts(rows + [{"step": 175, "loss/discriminator": 1.96}], 700)["d_left_initial_at_step"] is None

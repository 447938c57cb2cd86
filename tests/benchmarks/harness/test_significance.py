"""Almost stochastic order: hand-computed violation ratios, limiting cases, and agreement with
deepsig (the reference implementation of Dror et al.'s test) on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from tokenizer_bench.benchmarks.harness.significance import aso, pairwise_aso, violation_ratio


def test_violation_ratio_by_hand():
    # quantile functions of [1,2] and [0,3]: 1|2 vs 0|3 on t in (0,.5] and (.5,1]
    # differences 1 and -1: W2^2 = .5 + .5, violation .5 -> 0.5
    assert violation_ratio([1, 2], [0, 3]) == pytest.approx(0.5)
    # [1,2] vs [0,4]: differences 1 and -2: W2^2 = .5 + 2, violation 2 -> 0.8
    assert violation_ratio([1, 2], [0, 4]) == pytest.approx(0.8)
    # [1,3] vs [0,2.5]: A is above everywhere -> 0
    assert violation_ratio([1, 3], [0, 2.5]) == 0.0
    # unequal sizes: [1,2,3] vs [0,5]; grid 0,1/3,1/2,2/3,1: A = 1,2,2,3; B = 0,0,5,5
    # diffs 1,2,-3,-2 with widths 1/3,1/6,1/6,1/3: W2^2 = 1/3+4/6+9/6+4/3 = 23/6; viol = 9/6+4/3 = 17/6
    assert violation_ratio([3, 1, 2], [5, 0]) == pytest.approx(17 / 23)


def test_clearly_separated_samples_give_zero_and_one():
    rng = np.random.default_rng(1)
    good, bad = rng.normal(1.0, 0.1, 300), rng.normal(0.0, 0.1, 300)
    assert aso(good, bad).eps_min == 0.0  # good dominates bad
    assert aso(bad, good).eps_min == 1.0


def test_identical_and_same_distribution_samples_are_not_significant():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 200)
    r = aso(x, x.copy())
    assert r.identical and r.violation_ratio == 0.5 and r.eps_min == 1.0
    y = rng.normal(0, 1, 200)  # same distribution, different draw: neither direction is significant
    assert aso(x, y).eps_min > 0.5 and aso(y, x).eps_min > 0.5


def test_deterministic_with_seed():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.2, 1, 80), rng.normal(0, 1, 90)
    assert aso(a, b, seed=7) == aso(a, b, seed=7)


def test_agrees_with_deepsig():
    deepsig = pytest.importorskip("deepsig")
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.6, 1, 60), rng.normal(0, 1, 60)
    ours = aso(a, b, iterations=300, seed=1)
    theirs = deepsig.aso(a, b, num_bootstrap_iterations=300, seed=1, show_progress=False)
    assert 0.0 < ours.eps_min < 0.6
    assert ours.eps_min == pytest.approx(theirs, abs=0.06)  # bootstrap noise + deepsig's dt-grid integral


def test_pairwise_negates_lower_is_better_and_uses_common_utterances():
    wer = {"A": {f"u{i}": 1.0 + 0.01 * i for i in range(30)}, "B": {f"u{i}": 5.0 + 0.01 * i for i in range(30)}}
    wer["B"]["extra"] = -100.0  # only B scored it: ignored
    res = pairwise_aso(wer, higher_is_better=False, iterations=100)
    assert res["A"]["B"]["eps_min"] == 0.0 and res["A"]["B"]["n"] == 30  # lower WER: A dominates
    assert res["B"]["A"]["eps_min"] == 1.0

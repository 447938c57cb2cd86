"""Almost stochastic order (benchmarks/harness/significance.py): hand-computed violation ratios,
limiting cases and agreement with deepsig (the reference implementation of Dror et al.'s test) on the
same data; multiple-comparison corrections of the ASO table: hand-worked adjusted p-values, and the
p-value <-> eps_min identity that lets a correction act on ASO at all."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from tokenizer_bench.benchmarks.harness.significance import (adjust_p_values, aso, aso_p_value, eps_min_at,
                                                             pairwise_aso, violation_ratio)


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


def test_bonferroni_and_holm_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_p_values(p, "none") == p
    # Bonferroni: m = 4 -> 4p, capped at 1
    assert adjust_p_values(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Holm: sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06)
    assert adjust_p_values(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_p_values([0.3, 0.6], "bonferroni") == pytest.approx([0.6, 1.0])
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values(p, "sidak")


def test_p_value_is_the_level_where_eps_min_crosses_one_half():
    # eps = 0.3, sigma = 0.8, n = m = 50: const = 5, p = Phi((0.3 - 0.5) * 5 / 0.8) = Phi(-1.25)
    p = aso_p_value(0.3, 0.8, 50, 50)
    assert p == pytest.approx(NormalDist().cdf(-1.25))
    assert eps_min_at(0.3, 0.8, 50, 50, p) == pytest.approx(0.5)
    assert eps_min_at(0.3, 0.8, 50, 50, p * 0.9) > 0.5 > eps_min_at(0.3, 0.8, 50, 50, p * 1.1)
    rng = np.random.default_rng(0)
    r = aso(rng.normal(0.3, 1, 60), rng.normal(0, 1, 60), iterations=200, seed=1)
    assert eps_min_at(r.violation_ratio, r.sigma, 60, 60, r.p_value) == pytest.approx(0.5, abs=1e-9)


def _three_systems():
    rng = np.random.default_rng(5)
    base = rng.normal(0, 1, 40)
    return {"A": {f"u{i}": float(v + 0.45) for i, v in enumerate(rng.normal(0, 1, 40))},
            "B": {f"u{i}": float(v) for i, v in enumerate(base)},
            "C": {f"u{i}": float(v + 0.05) for i, v in enumerate(rng.normal(0, 1, 40))}}


@pytest.mark.parametrize("method", ["none", "bonferroni", "holm"])
def test_pairwise_cells_follow_the_correction(method):
    scores = _three_systems()
    res = pairwise_aso(scores, True, iterations=200, seed=3, correction=method)
    raw = pairwise_aso(scores, True, iterations=200, seed=3, correction="none")
    pairs = [("A", "B"), ("A", "C"), ("B", "C")]
    # the family's hypothesis per pair: the direction with the smaller raw p
    hyp = [min((raw[a][b]["p_value"], (a, b)), (raw[b][a]["p_value"], (b, a))) for a, b in pairs]
    expect = adjust_p_values([p for p, _ in hyp], method)
    for (p, (a, b)), adj in zip(hyp, expect):
        cell = res[a][b]
        assert cell["p_value"] == pytest.approx(p)
        assert cell["p_adjusted"] == pytest.approx(adj)
        assert cell["significant"] == (adj <= 0.05)
        assert res[b][a]["p_adjusted"] >= adj and not (cell["significant"] and res[b][a]["significant"])
    if method == "bonferroni":  # the eps_min shown is the one at alpha / 3, as deepsig's multi_aso
        for a, b in pairs:
            r = raw[a][b]
            assert res[a][b]["eps_min"] == pytest.approx(
                aso([scores[a][u] for u in sorted(scores[a])], [scores[b][u] for u in sorted(scores[b])],
                    iterations=200, seed=3, num_comparisons=3).eps_min)
            assert res[a][b]["eps_min"] >= r["eps_min"]


def test_unknown_correction_is_an_error():
    with pytest.raises(ValueError, match="holm"):
        pairwise_aso(_three_systems(), True, iterations=10, correction="fdr")

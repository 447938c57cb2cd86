"""benchmarks/results/token_probe.py: the seed-pooled comparison of probe rows, on hand-worked numbers."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def token_probe(load_benchmark_script):
    return load_benchmark_script("results/token_probe.py")


def _row(errors: list[int], refs: list[int]) -> dict:
    per = [{"id": f"u{i}", "errors": e, "ref_chars": r} for i, (e, r) in enumerate(zip(errors, refs))]
    return {"cer": sum(errors) / sum(refs), "ci95": [0, 1], "per_utterance": per}


def test_pooled_difference_is_the_summed_errors_over_summed_characters(token_probe):
    refs = [10, 30]
    rows = {
        "original (log-mel) (800 steps)": _row([2, 6], refs),
        "original (log-mel) (800 steps) (seed 1)": _row([4, 8], refs),
        "random init (same config) [rvq1] (800 steps)": _row([5, 9], refs),
        "random init (same config) [rvq1] (800 steps) (seed 1)": _row([5, 11], refs),
        "trained lm [rvq1] (800 steps)": _row([5, 9], refs),  # one seed only: not pooled
    }
    lines = token_probe.pooled_over_seeds(rows)
    table = [line for line in lines if line.startswith("| original")]
    assert len(table) == 1 and not any(line.startswith("| trained lm") for line in lines)
    cells = [c.strip() for c in table[0].strip("|").split("|")]
    # mean CER over seeds: (8/40 + 12/40) / 2 = 0.25; random: (14/40 + 16/40) / 2 = 0.375
    # pooled difference: (2+6+4+8 - (5+9+5+11)) / (2 * 40) = (20 - 30) / 80 = -0.125
    assert cells[2] == "2 (0, 1)" and cells[3] == "0.250" and cells[4] == "0.375" and cells[5] == "-0.125"
    assert float(cells[-1]) == 0.0  # every resample keeps log-mel lower here (it is lower on both utterances)


def test_seeds_must_score_the_same_utterances(token_probe):
    a, b = _row([1], [10]), _row([1], [10])
    b["per_utterance"][0]["id"] = "other"
    rows = {"original (log-mel)": a, "original (log-mel) (seed 1)": b,
            "random init (same config) [rvq1]": _row([2], [10]),
            "random init (same config) [rvq1] (seed 1)": _row([2], [10])}
    with pytest.raises(ValueError, match="different utterances"):
        token_probe.pooled_over_seeds(rows)


def test_training_seeds_pooled_and_paired_against_the_reference_variant(token_probe):
    refs = [10, 30]
    suffix = " (1000 steps)"
    rows = {
        f"trained fast_no_distillation_s42 [rvq1]{suffix}": _row([2, 6], refs),
        f"trained fast_no_distillation_s43 [rvq1]{suffix}": _row([4, 8], refs),
        f"trained fast_lm_s42 [rvq1]{suffix}": _row([3, 9], refs),
        f"trained fast_lm_s43 [rvq1]{suffix}": _row([5, 11], refs),
        "original (log-mel)": _row([1, 1], refs),  # not a trained row: ignored
    }
    lines = token_probe.across_training_seeds(rows, reference="fast_no_distillation")
    pooled = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
              for line in lines if line.startswith("| fast_")}
    # pooled CER over both seeds: no distillation (2+6+4+8)/80 = 0.25, lm (3+9+5+11)/80 = 0.35
    assert pooled[f"fast_no_distillation [rvq1]{suffix}"][2] == "0.200 / 0.300"
    assert pooled[f"fast_no_distillation [rvq1]{suffix}"][3].startswith("0.250 [")
    assert pooled[f"fast_lm [rvq1]{suffix}"][3].startswith("0.350 [")
    # the difference, same seed and utterance: lm has 1 + 3 more errors on seed 42 and 1 + 3 on seed 43 -> +8/80;
    # every cell of the difference is >= +1 error, so every resample is positive
    diff = pooled[f"fast_lm − fast_no_distillation [rvq1]{suffix}"]
    assert diff[1] == "42, 43" and diff[2] == "+0.100 / +0.100"
    value, interval = diff[3].split(" [")
    assert value == "+0.100"
    low, high = (float(x) for x in interval.rstrip("]").split(", "))
    assert 0 < low <= 0.1 <= high

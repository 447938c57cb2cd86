"""The small-scale benchmark's seeds, time budget and CPU-minute learning curve, against hand computations."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tokenizer_bench.benchmarks.quality import small_scale
from tokenizer_bench.benchmarks.quality.summary import (
    bootstrap_mean_ci,
    checkpoint_costs,
    render_results,
    two_level_bootstrap_means,
    two_level_bootstrap_ratios,
    two_level_mean_ci,
)
from tokenizer_bench.benchmarks.quality.variants import VARIANTS, resolve_variant


def test_two_level_bootstrap_by_hand():
    # d[seed, utt] = 4·seed + 2·utt. A draw picks seeds (a, b) and utterances (c, e), each 0/1 with
    # probability 1/2, and its mean is 2(a + b) + (c + e): a+b and c+e are 0, 1, 2 with 1/4, 1/2, 1/4,
    # so the draw is 0..6 with probabilities (1, 2, 3, 4, 3, 2, 1)/16, variance 4·0.5 + 0.5 = 2.5.
    d = [[0.0, 2.0], [4.0, 6.0]]
    draws = two_level_bootstrap_means(d, seed=3, draws=40_000)
    freq = Counter(np.rint(draws).astype(int).tolist())
    expected = dict(zip(range(7), np.array([1, 2, 3, 4, 3, 2, 1]) / 16))
    assert set(freq) == set(expected)
    for value, p in expected.items():
        assert freq[value] / draws.size == pytest.approx(p, abs=0.01)
    assert draws.var() == pytest.approx(2.5, rel=0.05)
    # P(0) = P(6) = 1/16 > 2.5 %: the interval is the whole range
    assert two_level_mean_ci(d, draws=4000) == pytest.approx((3.0, 0.0, 6.0))


def test_utterances_are_resampled_once_for_all_seeds():
    # two seeds with the same utterance effect (+-1): shared draws keep its full variance (1/2 per draw of
    # two utterances); drawing the utterances anew per seed would halve it to 1/4
    d = [[-1.0, 1.0], [-1.0, 1.0]]
    assert two_level_bootstrap_means(d, seed=0, draws=40_000).var() == pytest.approx(0.5, rel=0.05)


def test_two_level_ratio_is_pooled_errors_over_pooled_length():
    # one seed, utterances of 1 and 9 characters with 1 and 0 errors: a draw of two utterances picks
    # (short, short) 1/4 -> 2/2 = 1, (long, long) 1/4 -> 0/18 = 0, one of each 1/2 -> 1/10; the
    # per-utterance mean would give 1, 0 and 0.5 instead
    draws = two_level_bootstrap_ratios([[1.0, 0.0]], [[1.0, 9.0]], seed=0, draws=40_000)
    freq = Counter(np.round(draws, 3).tolist())
    assert set(freq) == {1.0, 0.0, 0.1}
    assert freq[1.0] / draws.size == pytest.approx(0.25, abs=0.01)
    assert freq[0.1] / draws.size == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="one shape"):
        two_level_bootstrap_ratios([[1.0, 0.0]], [[1.0]])


def test_one_seed_is_the_utterance_bootstrap():
    x = [0.0, 1.0] * 10
    mean, lo, hi = two_level_mean_ci([x], seed=1, draws=20_000)
    ref = bootstrap_mean_ci(x, seed=1, draws=20_000)
    assert mean == ref[0] == 0.5
    assert lo == pytest.approx(ref[1], abs=0.051) and hi == pytest.approx(ref[2], abs=0.051)


def test_runs_per_seed_are_suffixed_and_paired_with_their_reference_of_the_same_seed():
    variants = [VARIANTS["no_distillation"], VARIANTS["lm"]]
    runs = small_scale.make_runs(variants, [42, 43], suffix=True)
    assert [(r.name, r.seed, r.reference) for r in runs] == [
        ("no_distillation_s42", 42, None), ("lm_s42", 42, "no_distillation_s42"),
        ("no_distillation_s43", 43, None), ("lm_s43", 43, "no_distillation_s43")]
    # one seed, no --seeds: the historical folder names
    assert [r.name for r in small_scale.make_runs(variants, [42], suffix=False)] == ["no_distillation", "lm"]
    # --reference replaces the packaged one
    runs = small_scale.make_runs(variants, [1], suffix=True, reference="lm")
    assert [(r.name, r.reference) for r in runs] == [("no_distillation_s1", "lm_s1"), ("lm_s1", None)]


def test_variants_given_as_config_files_or_packaged_names(tmp_path):
    cfg = tmp_path / "fast_nodist.yaml"
    cfg.write_text("extends: quality/base.yaml\n")
    v = resolve_variant(str(cfg))
    assert (v.name, v.config, v.reference) == ("fast_nodist", str(cfg.resolve()), None)
    assert resolve_variant("quality/fast/lm.yaml") is VARIANTS["fast_lm"]  # a variant's config: that variant
    assert resolve_variant("quality/fast/base.yaml").name == "base"        # any other packaged config
    assert resolve_variant("lm") is VARIANTS["lm"]
    for bad in ("no_such_variant", str(tmp_path / "missing.yaml")):
        with pytest.raises(ValueError):
            resolve_variant(bad)


def test_a_minutes_budget_sets_the_trainer_option_and_lifts_the_step_limit(tmp_path):
    args = small_scale._parse_args(["--minutes", "2.5", "--work", str(tmp_path)])
    (run,) = small_scale.make_runs([VARIANTS["lm"]], [7], suffix=True)
    sets = small_scale._overrides(args, run, {"train": tmp_path, "valid": tmp_path})
    assert "trainer.max_minutes=2.5" in sets and "trainer.max_minutes_clock=wall" in sets and "seed=7" in sets
    assert f"trainer.max_steps={small_scale.UNBOUNDED}" in sets
    assert f"trainer.output_dir={tmp_path / 'lm_s7'}" in sets
    # a finished run counts as done only at the same budget
    (tmp_path / "lm_s7").mkdir()
    (tmp_path / "lm_s7" / small_scale.DONE_NAME).write_text(json.dumps({"steps": None, "minutes": 2.5,
                                                                         "clock": "wall"}))
    assert small_scale._done(args, run)
    args.clock = "cpu"
    assert not small_scale._done(args, run)
    args.clock, args.minutes = "wall", 5.0
    assert not small_scale._done(args, run)


def test_checkpoint_costs_from_the_trainer_log():
    rows = [{"step": 25, "time/cpu_s": 30.0, "time/wall_s": 60.0, "data/audio_seconds": 100.0, "loss/mel": 1.0},
            {"step": 25, "valid/mel": 2.0},
            {"step": 50, "time/cpu_s": 90.0, "time/wall_s": 120.0, "data/audio_seconds": 200.0}]
    assert checkpoint_costs(rows) == {25: pytest.approx({"cpu_minutes": 0.5, "wall_minutes": 1.0,
                                                          "audio_minutes": 100 / 60}),
                                      50: pytest.approx({"cpu_minutes": 1.5, "wall_minutes": 2.0,
                                                         "audio_minutes": 200 / 60})}


# ----------------------------------------------------------------------------- a whole render, by hand
UTTS = ["u1", "u2"]
#: STOI per run and utterance: B is A + 0.1 at seed 1 and A + 0.3 at seed 2
STOI = {"A_s1": [0.5, 0.6], "A_s2": [0.7, 0.8], "B_s1": [0.6, 0.7], "B_s2": [1.0, 1.1]}


def _fake_compare(folder: Path, systems: dict[str, Path], scores: dict[str, list[float]]) -> None:
    folder.mkdir(parents=True)
    rows = {label: {"metrics": {"wer": {"corpus": 50.0}, "wil": {"corpus": 60.0}}, "n_failed": 0} for label in systems}
    (folder / "results.json").write_text(json.dumps({
        "run": {"systems": [{"label": label, "checkpoint": str(path)} for label, path in systems.items()]},
        "rows": rows, "utterances": UTTS}))
    (folder / "results.md").write_text("harness table\n")
    with (folder / "per_utterance.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["system", "utt_id", "status", "stoi"])
        w.writeheader()
        for label, values in scores.items():
            for u, v in zip(UTTS, values):
                w.writerow({"system": label, "utt_id": u, "status": "ok", "stoi": v})


def test_render_pools_seeds_and_puts_the_curve_on_cpu_minutes(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    a = small_scale.Variant("A", "a.yaml", "reference")
    b = small_scale.Variant("B", "b.yaml", "changes one thing", reference="A")
    runs = small_scale.make_runs([a, b], [1, 2], suffix=True)
    _fake_compare(work / "compare", {r.name: work / r.name / r.name for r in runs}, STOI)
    curve_ckpt = work / "curve" / "B_s1_step_00000002"
    curve_ckpt.mkdir(parents=True)
    _fake_compare(work / "compare_curve", {"B_s1_step_00000002": curve_ckpt}, {"B_s1_step_00000002": [0.6, 0.7]})
    (work / "B_s1").mkdir(parents=True)
    (work / "B_s1" / "metrics.jsonl").write_text(
        json.dumps({"step": 2, "time/cpu_s": 120.0, "time/wall_s": 150.0, "data/audio_seconds": 8.0}) + "\n")
    settings = {"steps": None, "minutes": 3.0, "seed": 42, "seeds": [1, 2], "device": "cpu", "parallel": 2,
                "threads": 1, "data": {"train": "t", "valid": "v", "eval": "e"},
                "seed_runs": {"A": {"1": "A_s1", "2": "A_s2"}, "B": {"1": "B_s1", "2": "B_s2"}},
                "curve": "B", "curve_runs": ["B_s1"]}
    render_results(work, runs, out, settings, wall_seconds=60.0)
    summary = json.loads((out / "quality_small_scale.json").read_text())
    pooled = summary["across_seeds"]["variants"]["B"]["metrics"]["stoi"]
    assert pooled["mean"] == pytest.approx(0.85) and pooled["per_seed"] == pytest.approx([0.65, 1.05])
    diff = summary["across_seeds"]["paired_differences"]["B"]["stoi"]
    # d = [[0.1, 0.1], [0.3, 0.3]]: a draw's mean is 0.1, 0.2 or 0.3 (seeds drawn), so the interval is [0.1, 0.3]
    assert (diff["mean"], diff["ci_low"], diff["ci_high"]) == pytest.approx((0.2, 0.1, 0.3))
    assert diff["per_seed"] == pytest.approx([0.1, 0.3]) and diff["significant"] and diff["reference"] == "A"
    (point,) = summary["learning_curve"]["runs"]["B_s1"]
    assert point["cpu_minutes"] == pytest.approx(2.0) and point["audio_minutes"] == pytest.approx(8 / 60)
    assert point["wil_corpus"] == 60.0 and point["stoi"]["mean"] == pytest.approx(0.65)
    md = (out / "quality_small_scale.md").read_text()
    assert "## Across training seeds" in md and "| B − A |" in md
    assert "| 2 | 2.0 | 0.1 | 0.650" in md  # step, CPU min, audio min, STOI
    assert "3 min wall" in md

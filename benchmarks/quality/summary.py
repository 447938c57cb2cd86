"""Results of the small-scale quality benchmark, from finished work alone (resumable, re-renderable).

Reads, per variant, the trainer's ``metrics.jsonl`` (training and validation curves, the
discriminator loss, codebook perplexity) and the harness's ``per_utterance.csv`` /
``results.json`` of one ``tokenizer-bench compare`` run; encodes the evaluation utterances once
more through the public tokenizer API for codebook usage on held-out speech. Statistics:

* per metric and variant, the mean over the evaluation utterances with a 95 % percentile
  bootstrap interval (utterances resampled, 2,000 draws, seeded);
* per metric, every variant against the reference variant on the same utterances: the mean
  paired difference and its 95 % bootstrap interval; "significant" only when it excludes 0.
  The harness's almost-stochastic-order table is kept next to it (compare_results.md).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tokenizer_bench.core.io import write_json_atomic, write_text_atomic

RESULTS_NAME = "quality_small_scale"
#: metric -> (label, higher is better, digits)
METRICS: dict[str, tuple[str, bool, int]] = {
    "stoi": ("STOI", True, 3), "pesq": ("PESQ", True, 2), "visqol": ("ViSQOL", True, 2),
    "mel_distance": ("Mel dist", False, 3), "si_sdr": ("SI-SDR dB", True, 1), "wer": ("WER %", False, 1),
    "wil": ("WIL %", False, 1),
}
BOOTSTRAP_DRAWS = 2000
D_LOSS_INITIAL = 2.0  # hinge loss of a discriminator whose logits are all 0
D_LOSS_LEFT = 0.05    # "left its initial value": below 2.0 - this


# ----------------------------------------------------------------------------- statistics
def bootstrap_mean_ci(values: Sequence[float], seed: int = 0,
                      draws: int = BOOTSTRAP_DRAWS) -> tuple[float, float, float]:
    """Mean and its 95 % percentile bootstrap interval (utterances resampled with replacement)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(draws, x.size))].mean(axis=1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_difference_ci(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired utterances and its 95 % bootstrap interval."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return bootstrap_mean_ci(d, seed=seed)


def two_level_bootstrap_means(values: np.ndarray | Sequence[Sequence[float]], seed: int = 0,
                              draws: int = BOOTSTRAP_DRAWS) -> np.ndarray:
    """Bootstrap distribution of the grand mean of ``values[seed, utterance]`` over both levels.

    Each draw resamples the training seeds with replacement, then the utterances with replacement,
    and averages the drawn cells. The utterances are the *same* test items for every seed (crossed,
    not nested), so one utterance draw is shared by all drawn seeds: resampling them separately per
    seed would average their variation away and understate it. With one seed this is the
    utterance bootstrap; with one utterance, the seed bootstrap.
    """
    x = np.asarray(values, dtype=float)
    return two_level_bootstrap_ratios(x, np.ones_like(x) if x.ndim == 2 else x, seed=seed, draws=draws)


def two_level_bootstrap_ratios(numerator: np.ndarray | Sequence[Sequence[float]],
                               denominator: np.ndarray | Sequence[Sequence[float]], seed: int = 0,
                               draws: int = BOOTSTRAP_DRAWS) -> np.ndarray:
    """Bootstrap distribution of ``Σ numerator / Σ denominator`` over the drawn ``[seed, utterance]``
    cells, resampled as :func:`two_level_bootstrap_means` does (seeds, then one shared utterance draw).

    A corpus-level error rate pooled over seeds is such a ratio (errors over reference words or
    characters); its per-utterance mean is not, and weights a two-word utterance like a long one."""
    x, n = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if x.ndim != 2 or x.size == 0 or n.shape != x.shape:
        raise ValueError(f"two-level bootstrap needs [seeds, utterances] tables of one shape, got {x.shape} and "
                         f"{n.shape}")
    n_s, n_u = x.shape
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for i in range(draws):
        s = rng.integers(0, n_s, size=n_s)
        u = rng.integers(0, n_u, size=n_u)
        cells = np.ix_(s, u)
        out[i] = x[cells].sum() / max(n[cells].sum(), 1e-12)
    return out


def two_level_mean_ci(values: np.ndarray | Sequence[Sequence[float]], seed: int = 0,
                      draws: int = BOOTSTRAP_DRAWS) -> tuple[float, float, float]:
    """Mean of ``values[seed, utterance]`` and its 95 % percentile interval over seeds and utterances
    (``two_level_bootstrap_means``). For a paired difference pass ``a - b`` (same seeds, same utterances)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    means = two_level_bootstrap_means(x, seed=seed, draws=draws)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def steps_to_reach(steps: Sequence[int], values: Sequence[Sequence[float]], target: float, *,
                   higher_is_better: bool = True, seed: int = 0,
                   draws: int = BOOTSTRAP_DRAWS) -> dict[str, float]:
    """Extrapolated budget: the step at which a log-linear fit of a learning curve reaches ``target``.

    ``values[i]`` are the per-utterance scores of the checkpoint at ``steps[i]`` (the same
    utterances in the same order for every checkpoint). The curve's means are fitted by least
    squares as ``a + b * log10(step)`` and solved for ``target``; the 95 % interval resamples the
    utterances (the whole row of checkpoints at once, so the pairing is kept) and refits. It covers
    the evaluation sample only: the log-linear form is an assumption (learning curves bend), so the
    figure is an order of magnitude for planning a budget, not a prediction. ``inf`` where the fit
    does not move towards the target (no trend, or the wrong sign).
    """
    x = np.log10(np.asarray(steps, dtype=float))
    y = np.asarray(values, dtype=float)
    if x.size < 2 or y.ndim != 2 or y.shape[0] != x.size or y.shape[1] == 0:
        raise ValueError("steps_to_reach needs at least two checkpoints with the same utterances each")
    sign = 1.0 if higher_is_better else -1.0

    def crossing(means: np.ndarray) -> tuple[float, float]:
        slope, intercept = np.polyfit(x, means, 1)
        if sign * slope <= 0:
            return math.inf, float(slope)
        decades = (target - intercept) / slope
        return (float(10 ** decades) if decades < 300 else math.inf), float(slope)  # 1e300 steps: never

    point, slope = crossing(y.mean(axis=1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, y.shape[1], size=(draws, y.shape[1]))
    boot = np.array([crossing(y[:, row].mean(axis=1))[0] for row in idx])
    # "nearest": no interpolation between an infinite and a finite draw
    return {"step": point, "ci_low": float(np.percentile(boot, 2.5, method="nearest")),
            "ci_high": float(np.percentile(boot, 97.5, method="nearest")),
            "slope_per_decade": slope, "target": target, "fitted_steps": [int(s) for s in steps]}


# ----------------------------------------------------------------------------- reading
def read_training_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted run
    return rows


def curve(rows: Iterable[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """``(step, value)`` pairs of one logged key; a resumed run's repeated steps keep the last value."""
    out: dict[int, float] = {}
    for r in rows:
        if key in r and isinstance(r[key], (int, float)) and math.isfinite(r[key]):
            out[int(r["step"])] = float(r[key])
    return sorted(out.items())


def read_per_utterance(compare_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``system label -> utterance id -> metric -> value`` (status ok only)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    path = compare_dir / "per_utterance.csv"
    if not path.exists():
        return table
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("status") != "ok":
                continue
            vals = {}
            for m in METRICS:
                raw = row.get(m, "")
                if raw not in ("", None):
                    vals[m] = float(raw)
            table.setdefault(row["system"], {})[row["utt_id"]] = vals
    return table


def system_label(compare_dir: Path, checkpoint: Path) -> str | None:
    """The harness's row label of the system loaded from ``checkpoint``."""
    run = json.loads((compare_dir / "results.json").read_text())["run"]
    for s in run.get("systems", []):
        if s.get("checkpoint") and Path(s["checkpoint"]).resolve() == checkpoint.resolve():
            return s["label"]
    return None


# ----------------------------------------------------------------------------- training facts
def training_facts(rows: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    d_loss = curve(rows, "loss/discriminator")
    # 'left' for good: the first logged step from which every logged mean stays below the threshold
    # (an early dip that returns to 2.0 does not count: in the first window D can score the
    # untrained generator's output before the generator catches up)
    left = None
    for s, v in d_loss:
        if v < D_LOSS_INITIAL - D_LOSS_LEFT:
            left = s if left is None else left
        else:
            left = None
    valid = curve(rows, "valid/mel")
    # the trainer's window over the last batches when logged (one batch of 4 x 1 s has only 200 frames)
    prefix = "codebook_window" if curve(rows, "codebook_window/layer0_perplexity") else "codebook"
    ppl = {}
    for i in range(64):
        c = curve(rows, f"{prefix}/layer{i}_perplexity")
        if not c:
            break
        ppl[f"rvq{i + 1}"] = c[-1][1]
    speed = curve(rows, "steps_per_s")
    return {
        "last_step": max((int(r["step"]) for r in rows), default=0),
        "train_mel_last": (curve(rows, "loss/mel") or [(0, math.nan)])[-1][1],
        "valid_mel": valid,
        "valid_mel_best": min((v for _, v in valid), default=math.nan),
        "d_loss_first": d_loss[0][1] if d_loss else math.nan,
        "d_loss_last": d_loss[-1][1] if d_loss else math.nan,
        "d_left_initial_at_step": left,
        "d_left_within_10pct": (left is not None and left <= 0.1 * steps) if d_loss else None,
        "codebook_perplexity_last": ppl,
        "steps_per_s": float(np.median([v for _, v in speed])) if speed else math.nan,
        "d_curve": d_loss,
        "ppl_curve": curve(rows, f"{prefix}/layer0_perplexity"),
        "codebook_source": prefix,
    }


def eval_codebook_usage(checkpoint: Path, utterance_list: Path) -> dict[str, Any]:
    """Per codebook over the evaluation utterances: codes used (fraction) and perplexity exp(H)."""
    import soundfile as sf
    import torch

    from tokenizer_bench import load_tokenizer

    tok = load_tokenizer("dm_codec", checkpoint=str(checkpoint))  # CPU: a few seconds for the evaluation set
    counts = None
    frames = 0
    for line in utterance_list.read_text().splitlines():
        if not line.strip():
            continue
        wav, sr = sf.read(json.loads(line)["path"], dtype="float32")
        if sr != tok.sample_rate:
            raise ValueError(f"{line}: sample rate {sr} != tokenizer's {tok.sample_rate}")
        with torch.no_grad():
            codes = tok.encode(torch.from_numpy(wav)[None, None])[0].cpu()  # [Q, T]
        c = torch.stack([torch.bincount(q, minlength=tok.codebook_size) for q in codes]).double()
        counts = c if counts is None else counts + c
        frames += codes.shape[-1]
    if counts is None:
        return {}
    p = counts / counts.sum(dim=1, keepdim=True)
    entropy = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(dim=1)
    return {"frames": frames, "codebook_size": int(tok.codebook_size),
            "usage": [float(u) for u in (counts > 0).double().mean(dim=1)],
            "perplexity": [float(x) for x in entropy.exp()],
            "entropy_bits": [float(x) for x in entropy / math.log(2)]}


# ----------------------------------------------------------------------------- rendering
def _fmt(x: float | None, digits: int) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _steps(x: float) -> str:
    if not math.isfinite(x):
        return "never (no rise)"
    return f"{x:,.0f}" if x < 1e6 else f"{x:.0e}".replace("e+0", "e").replace("e+", "e")


def _ci(t: tuple[float, float, float], digits: int) -> str:
    m, lo, hi = t
    return "–" if not math.isfinite(m) else f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def read_curve(work: Path, variant: str) -> dict[str, Any] | None:
    """The learning-curve compare run of ``variant``, read once: its harness results, utterance
    order and, per scored checkpoint step, the row's label and per-utterance scores."""
    compare_dir = work / "compare_curve"
    if not (compare_dir / "results.json").exists():
        return None
    per_utt = read_per_utterance(compare_dir)
    harness = json.loads((compare_dir / "results.json").read_text())
    by_step = {}
    for folder in (work / "curve").glob(f"{variant}_step_*"):
        label = system_label(compare_dir, folder)
        if label in per_utt:
            by_step[int(folder.name.rsplit("_", 1)[-1])] = (label, per_utt[label])
    return {"harness": harness, "utterances": harness.get("utterances", []), "by_step": by_step}


#: the trainer's metrics.jsonl keys of what a training has spent (core.training.clock) -> curve point key, scale
COST_KEYS = {"time/cpu_s": ("cpu_minutes", 1 / 60), "time/wall_s": ("wall_minutes", 1 / 60),
             "data/audio_seconds": ("audio_minutes", 1 / 60)}
CURVE_METRICS = ("stoi", "pesq", "mel_distance", "wer", "wil")


def checkpoint_costs(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per logged step of a training (``read_training_log``): CPU, wall and audio minutes spent to reach
    it (the trainer logs them with every metrics line and at every checkpoint; absent from older logs)."""
    rows = list(rows)
    out: dict[int, dict[str, float]] = {}
    for key, (name, scale) in COST_KEYS.items():
        for step, value in curve(rows, key):
            out.setdefault(step, {})[name] = value * scale
    return out


def learning_curve(scored: dict[str, Any] | None,
                   rows: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Per kept checkpoint (``read_curve``): its step, what reaching it cost (CPU / wall / audio
    minutes from the training's log ``rows``, where logged) and the mean [95 % CI] of each scored
    metric, with the corpus WER and WIL."""
    if not scored:
        return []
    harness, utt_ids = scored["harness"], scored["utterances"]
    costs = checkpoint_costs(rows)
    points = []
    for step, (label, scores) in sorted(scored["by_step"].items()):
        row = harness["rows"].get(label, {}).get("metrics", {})
        point: dict[str, Any] = {"step": step, "wer_corpus": row.get("wer", {}).get("corpus"),
                                 "wil_corpus": row.get("wil", {}).get("corpus")}
        point.update(costs.get(step, {}))
        for m in CURVE_METRICS:
            vals = [scores[u][m] for u in utt_ids if m in scores.get(u, {})]
            if vals:
                point[m] = dict(zip(("mean", "ci_low", "ci_high"), bootstrap_mean_ci(vals)))
        points.append(point)
    return points


#: the issue's target for the best variant (STOI ≥ 0.75); the learning curve says which budget reaches it
STOI_TARGET = 0.75


def curve_budget(scored: dict[str, Any] | None, target: float = STOI_TARGET) -> dict[str, Any] | None:
    """Steps at which the STOI learning curve (``read_curve``), extrapolated, reaches ``target``.

    Fitted on the later half of the budget (checkpoints at or after half the last step: the early
    transient is not the trend) over the utterances every checkpoint scored; see ``steps_to_reach``.
    """
    if not scored or not scored["by_step"]:
        return None
    by_step = {step: scores for step, (_, scores) in scored["by_step"].items()}
    last = max(by_step)
    steps = sorted(s for s in by_step if s >= last / 2)
    utts = [u for u in scored["utterances"] if all("stoi" in by_step[s].get(u, {}) for s in steps)]
    if len(steps) < 2 or not utts:
        return None
    values = [[by_step[s][u]["stoi"] for u in utts] for s in steps]
    return steps_to_reach(steps, values, target) | {"metric": "stoi", "utterances": len(utts)}


def render_results(work: Path, variants: Sequence[Any], out: Path, settings: dict[str, Any], *,
                   wall_seconds: float) -> list[Path]:
    """Write ``quality_small_scale.{json,md}`` and plots into ``out``; returns the written paths."""
    compare_dir = work / "compare"
    if not (compare_dir / "results.json").exists():
        raise SystemExit(f"error: {compare_dir} has no results.json: run the benchmark (without --render-only) first")
    per_utt = read_per_utterance(compare_dir)
    harness = json.loads((compare_dir / "results.json").read_text())
    utt_ids = harness.get("utterances", [])
    labels, results = {}, {}
    for v in variants:
        ckpt = work / v.name / v.name
        label = system_label(compare_dir, ckpt)
        labels[v.name] = label
        rows = read_training_log(work / v.name / "metrics.jsonl")
        # a --minutes run's budget in steps: where it stopped
        steps = int(settings.get("steps") or max((int(r["step"]) for r in rows), default=0) or 1)
        res: dict[str, Any] = {"description": v.description, "config": v.config, "harness_label": label,
                               "training": training_facts(rows, steps)}
        res["training"]["cost"] = checkpoint_costs(rows).get(res["training"]["last_step"], {})
        if label in per_utt:
            scores = per_utt[label]
            res["metrics"] = {m: dict(zip(("mean", "ci_low", "ci_high"),
                                          bootstrap_mean_ci([scores[u][m] for u in utt_ids if m in scores.get(u, {})])))
                              for m in METRICS}
            row = harness["rows"].get(label, {})
            res["corpus"] = {m: row.get("metrics", {}).get(m, {}).get("corpus") for m in ("wer", "wil")}
            res["n_failed"] = row.get("n_failed")
            res["bitrate"] = row.get("metrics", {}).get("bitrate", {}).get("mean")
        if ckpt.exists():
            res["eval_codebooks"] = eval_codebook_usage(ckpt, compare_dir / "utterances.jsonl")
        results[v.name] = res
    gt = harness["rows"].get("Ground truth", {}).get("metrics", {})
    ident = next((r for k, r in harness["rows"].items() if k == "identity"), {})
    references = {v.name: v.reference for v in variants if v.reference in labels}
    diffs = _paired(per_utt, labels, utt_ids, references)
    seeds = _across_seeds(per_utt, labels, utt_ids, settings, references) if settings.get("seeds") else None
    out.mkdir(parents=True, exist_ok=True)
    figdir = out / RESULTS_NAME
    figdir.mkdir(parents=True, exist_ok=True)
    written = []
    shutil.copyfile(compare_dir / "results.md", figdir / "compare_results.md")
    written.append(figdir / "compare_results.md")
    curve_runs = settings.get("curve_runs") or ([settings["curve"]] if settings.get("curve") else [])
    scored = {r: read_curve(work, r) for r in curve_runs}
    curves = {r: learning_curve(sc, read_training_log(work / r / "metrics.jsonl")) for r, sc in scored.items()}
    curves = {r: pts for r, pts in curves.items() if pts}
    scored_curve = scored[curve_runs[0]] if curve_runs else None
    curve_points = curves.get(curve_runs[0], []) if curve_runs else []
    plots = _plots(results, figdir, int(settings.get("steps") or 0), curves)
    written += plots
    summary = {"settings": settings, "wall_seconds": wall_seconds, "references": references,
               "ground_truth": {m: gt.get(m, {}).get("corpus") for m in ("wer", "wil")},
               "identity": {m: ident.get("metrics", {}).get(m, {}).get("corpus" if m in ("wer", "wil") else "mean")
                            for m in METRICS},
               "utterances": utt_ids, "variants": results, "paired_differences": diffs,
               "across_seeds": seeds,
               "learning_curve": {"variant": settings.get("curve"), "points": curve_points,
                                  "budget": curve_budget(scored_curve), "runs": curves}}
    write_json_atomic(out / f"{RESULTS_NAME}.json", summary)
    written.append(out / f"{RESULTS_NAME}.json")
    write_text_atomic(out / f"{RESULTS_NAME}.md", _markdown(summary, [p.name for p in plots]))
    written.append(out / f"{RESULTS_NAME}.md")
    return written


def _paired(per_utt, labels, utt_ids, references: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per variant with a scored reference: paired difference (variant − reference) per metric."""
    out: dict[str, dict[str, Any]] = {}
    for name, reference in references.items():
        label = labels.get(name)
        ref = per_utt.get(labels.get(reference) or "", {})
        if label not in per_utt or not ref:
            continue
        mine = per_utt[label]
        out[name] = {}
        for m in METRICS:
            common = [u for u in utt_ids if m in mine.get(u, {}) and m in ref.get(u, {})]
            if not common:
                continue
            mean, lo, hi = paired_difference_ci([mine[u][m] for u in common], [ref[u][m] for u in common])
            out[name][m] = {"mean": mean, "ci_low": lo, "ci_high": hi, "n": len(common), "reference": reference,
                            "significant": bool(lo > 0 or hi < 0)}
    return out


def _across_seeds(per_utt, labels, utt_ids, settings: dict[str, Any],
                  references: dict[str, str]) -> dict[str, Any]:
    """Per variant, pooled over its seeds' trainings: each metric's mean with a 95 % interval that
    resamples seeds and utterances (``two_level_mean_ci``); per variant with a reference, the paired
    difference (same seed, same utterance) with the same two-level interval. Utterances: those every
    training of the variant (and of its reference) scored."""
    seed_runs: dict[str, dict[str, str]] = settings.get("seed_runs") or {}
    run_variant = {run: v for v, by_seed in seed_runs.items() for run in by_seed.values()}

    def table(variant: str, m: str, seeds: list[str], minus: str | None = None) -> tuple[np.ndarray, int]:
        mine = [per_utt.get(labels.get(seed_runs[variant][sd]) or "", {}) for sd in seeds]
        other = [per_utt.get(labels.get(seed_runs[minus][sd]) or "", {}) for sd in seeds] if minus else mine
        common = [u for u in utt_ids if all(m in t.get(u, {}) for t in mine + other)]
        x = np.array([[t[u][m] for u in common] for t in mine], dtype=float).reshape(len(seeds), len(common))
        if minus:
            x = x - np.array([[t[u][m] for u in common] for t in other], dtype=float).reshape(len(seeds), len(common))
        return x, len(common)

    pooled: dict[str, Any] = {}
    for variant, by_seed in seed_runs.items():
        seeds = [sd for sd in by_seed if labels.get(by_seed[sd]) in per_utt]
        if not seeds:
            continue
        pooled[variant] = {"seeds": [int(sd) for sd in seeds], "metrics": {}}
        for m in METRICS:
            x, n = table(variant, m, seeds)
            if n:
                mean, lo, hi = two_level_mean_ci(x)
                pooled[variant]["metrics"][m] = {"mean": mean, "ci_low": lo, "ci_high": hi, "utterances": n,
                                                 "per_seed": [float(r.mean()) for r in x]}
    diffs: dict[str, Any] = {}
    ref_variant = {run_variant[r]: run_variant[ref] for r, ref in references.items()
                   if r in run_variant and ref in run_variant}
    for variant, ref in ref_variant.items():
        if variant not in pooled or ref not in pooled:
            continue
        seeds = [sd for sd in seed_runs[variant] if int(sd) in pooled[variant]["seeds"]
                 and int(sd) in pooled[ref]["seeds"]]
        diffs[variant] = {}
        for m in METRICS:
            x, n = table(variant, m, seeds, minus=ref)
            if n:
                mean, lo, hi = two_level_mean_ci(x)
                diffs[variant][m] = {"mean": mean, "ci_low": lo, "ci_high": hi, "utterances": n,
                                     "seeds": [int(sd) for sd in seeds], "reference": ref,
                                     "per_seed": [float(r.mean()) for r in x], "significant": bool(lo > 0 or hi < 0)}
    return {"variants": pooled, "paired_differences": diffs}


def _markdown(s: dict[str, Any], plots: list[str]) -> str:
    st = s["settings"]
    lines = [
        "# Small-scale quality benchmark: does it train?", "",
        "Written by `python benchmarks/quality/small_scale.py` (see its docstring). Every variant: the",
        "configs in `configs/quality/`, the same codec, data, crop, batch, seed and number of steps; scored",
        "by one `tokenizer-bench compare` run on held-out utterances the training never saw.", "",
        f"- budget per training: {_budget_text(st)}; training seed(s) "
        f"{', '.join(str(x) for x in (st.get('seeds') or [st['seed']]))}, evaluation draw seed {st['seed']}, "
        f"device {st['device']}, {st['parallel']} trainings at a "
        f"time × {st['threads']} thread(s); wall time {s['wall_seconds'] / 60:.1f} min (all invocations that built "
        f"these results: {', '.join(f'{x / 60:.1f}' for x in st.get('invocation_seconds', [])) or '–'} min)",
        f"- train: `{st['data']['train']}`; validation: `{st['data']['valid']}`; evaluation: "
        f"{len(s['utterances'])} utterances of `{st['data']['eval']}` (seeded draw, official transcripts)",
        f"- ASR for WER/WIL: Whisper tiny.en (faster-whisper); ground truth corpus WER "
        f"{_fmt(s['ground_truth'].get('wer'), 1)} %, WIL {_fmt(s['ground_truth'].get('wil'), 1)} %",
        "- intervals: 95 % percentile bootstrap over utterances (2,000 draws); per training, so they cover the",
        "  evaluation sample, not seed-to-seed variation"
        + ("" if s.get("across_seeds") else " (one seed per variant)"),
        "",
        "## Reconstruction quality (mean [95 % CI]; WER/WIL: corpus, with the per-utterance mean's CI)", "",
    ]
    head = ["variant", "kbps"] + [METRICS[m][0] for m in METRICS]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in s["variants"].items():
        if "metrics" not in r:
            lines.append(f"| {name} | (not scored) |")
            continue
        cells = [f"**{name}**", _fmt((r.get("bitrate") or math.nan) / 1000, 2)]
        for m, (_, _, digits) in METRICS.items():
            t = r["metrics"][m]
            ci = (t["mean"], t["ci_low"], t["ci_high"])
            if m in ("wer", "wil"):
                cells.append(f"{_fmt(r['corpus'].get(m), digits)} ({_ci(ci, digits)})")
            else:
                cells.append(_ci(ci, digits))
        lines.append("| " + " | ".join(cells) + " |")
    ident = s["identity"]
    lines.append("| identity (sanity) | – | " + " | ".join(_fmt(ident.get(m), METRICS[m][2]) for m in METRICS) + " |")
    lines += ["", "## Paired differences: each variant against the one it changes (same utterances)", "",
              "Mean difference [95 % bootstrap CI]; **bold** = the interval excludes 0. Positive is better for",
              "STOI/PESQ/ViSQOL/SI-SDR, negative for mel distance and WER/WIL. The harness's almost-stochastic-order",
              f"test for every pair is in [{RESULTS_NAME}/compare_results.md]({RESULTS_NAME}/compare_results.md).", ""]
    head = ["variant − reference"] + [METRICS[m][0] for m in METRICS]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += _difference_rows((f"{name} − {s['references'][name]}", per)
                              for name, per in s["paired_differences"].items())
    lines += _seeds_markdown(s.get("across_seeds"))
    lines += ["", "## Training", "",
              "Mel values are each variant's own configured mel loss (comparable between variants that share it:",
              "all but `mel_eq5` and `mel_audiocraft`); the harness's mel distance above is the common scale. The",
              f"discriminator's hinge loss starts at {D_LOSS_INITIAL} (logits 0); 'left' = the first logged mean",
              f"(over the last `log_every` steps) from which all later ones stay below {D_LOSS_INITIAL - D_LOSS_LEFT}",
              "(an early dip that returns to 2.0 does not count).", "",
              "| variant | last step | steps/s | CPU min | audio min seen | train mel (own loss) | best valid mel "
              "(own loss) | D loss first → last | D left 2.0 at step "
              "(≤ 10 % of budget?) | RVQ perplexity at the end (training window) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in s["variants"].items():
        t = r["training"]
        left = t["d_left_initial_at_step"]
        ok = t["d_left_within_10pct"]
        left_txt = "–" if ok is None else f"{left if left is not None else 'never'} ({'yes' if ok else 'no'})"
        ppl = " / ".join(f"{v:.1f}" for v in t["codebook_perplexity_last"].values()) or "–"
        cost = t.get("cost") or {}
        lines.append(f"| {name} | {t['last_step']} | {_fmt(t['steps_per_s'], 2)} | "
                     f"{_fmt(cost.get('cpu_minutes'), 1)} | {_fmt(cost.get('audio_minutes'), 1)} | "
                     f"{_fmt(t['train_mel_last'], 3)} | "
                     f"{_fmt(t['valid_mel_best'], 3)} | {_fmt(t['d_loss_first'], 2)} → {_fmt(t['d_loss_last'], 2)} | "
                     f"{left_txt} | {ppl} |")
    lines += ["", "## Codebook usage on the evaluation utterances", "",
              "| variant | frames | codes used per codebook (of K) | perplexity per codebook | entropy bits/frame "
              "(sum) |",
              "|---|---|---|---|---|"]
    for name, r in s["variants"].items():
        e = r.get("eval_codebooks") or {}
        if not e:
            lines.append(f"| {name} | – | – | – | – |")
            continue
        k = e["codebook_size"]
        used = " / ".join(f"{round(u * k)}" for u in e["usage"])
        lines.append(f"| {name} | {e['frames']} | {used} (K={k}) | "
                     f"{' / '.join(f'{p:.1f}' for p in e['perplexity'])} | {sum(e['entropy_bits']):.1f} |")
    lc = s.get("learning_curve") or {}
    for run, points in (lc.get("runs") or ({lc["variant"]: lc["points"]} if lc.get("points") else {})).items():
        lines += ["", f"## Learning curve of `{run}` (every kept checkpoint, same utterances, through compare)", "",
                  "CPU min: process CPU time of the training to reach the checkpoint (all its threads); audio min: "
                  "minutes of audio it had seen (batch × crop × accumulation × steps).", "",
                  "| step | CPU min | audio min | STOI | PESQ | Mel dist | WER % (corpus) | WIL % (corpus) |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in points:
            cells = [str(p["step"]), _fmt(p.get("cpu_minutes"), 1), _fmt(p.get("audio_minutes"), 1)]
            cells += [_ci((p[m]["mean"], p[m]["ci_low"], p[m]["ci_high"]), METRICS[m][2]) if m in p else "–"
                      for m in ("stoi", "pesq", "mel_distance")]
            cells += [_fmt(p.get("wer_corpus"), 1), _fmt(p.get("wil_corpus"), 1)]
            lines.append("| " + " | ".join(cells) + " |")
        b = lc.get("budget")
        if b:
            fitted = ", ".join(str(x) for x in b["fitted_steps"])
            reach = ("the fit does not rise" if not math.isfinite(b["step"]) else
                     f"**≈ {_steps(b['step'])} steps** (95 % CI over utterances {_steps(b['ci_low'])} to "
                     f"{_steps(b['ci_high'])})")
            lines += ["", f"Budget for STOI ≥ {b['target']:.2f}: a log-linear fit (STOI = a + b·log10 step) of "
                          f"the checkpoints at steps {fitted} over {b['utterances']} utterances rises "
                          f"{b['slope_per_decade']:+.3f} per decade and reaches {b['target']:.2f} at {reach}, at "
                          "this batch and crop. An extrapolation: learning curves bend, so read it as an order of "
                          "magnitude for the budget, not a prediction."]
    lines += ["", "## Variants", ""]
    for name, r in s["variants"].items():
        lines.append(f"- `{name}` (`{r['config']}`): {r['description']}")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({RESULTS_NAME}/{p})" for p in plots]
    return "\n".join(lines) + "\n"


def _difference_rows(rows: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """Markdown rows of paired differences: one per (label, {metric: difference}); bold = the interval excludes 0."""
    lines = []
    for label, per in rows:
        cells = [label]
        for m, (_, _, digits) in METRICS.items():
            d = per.get(m)
            if d is None:
                cells.append("–")
                continue
            txt = _ci((d["mean"], d["ci_low"], d["ci_high"]), digits)
            cells.append(f"**{txt}**" if d["significant"] else txt)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _budget_text(st: dict[str, Any]) -> str:
    parts = ([f"{st['steps']} steps"] if st.get("steps") else []) + (
        [f"{st['minutes']:g} min {st.get('clock') or 'wall'} (trainer.max_minutes)"] if st.get("minutes") else [])
    return " or ".join(parts) or "–"


def _seeds_markdown(seeds: dict[str, Any] | None) -> list[str]:
    """The pooled-over-seeds tables (``_across_seeds``), or nothing for a one-seed run."""
    if not seeds or not seeds.get("variants"):
        return []
    lines = ["", "## Across training seeds (each variant's trainings pooled)", "",
             "Mean over seeds and utterances [95 % CI of a two-level bootstrap: seeds resampled, then the",
             "utterances (one draw shared by the drawn seeds: the same test items)]; WER/WIL here are",
             "per-utterance means, not corpus figures. The interval covers seed-to-seed variation and the",
             "evaluation sample.", ""]
    head = ["variant", "seeds"] + [METRICS[m][0] for m in METRICS]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in seeds["variants"].items():
        cells = [f"**{name}**", ", ".join(str(x) for x in r["seeds"])]
        for m, (_, _, digits) in METRICS.items():
            t = r["metrics"].get(m)
            cells.append(_ci((t["mean"], t["ci_low"], t["ci_high"]), digits) if t else "–")
        lines.append("| " + " | ".join(cells) + " |")
    if seeds.get("paired_differences"):
        lines += ["", "Paired differences (same seed, same utterance), two-level interval; **bold** = excludes 0; "
                      "per-seed means in the JSON.", ""]
        head = ["variant − reference"] + [METRICS[m][0] for m in METRICS]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += _difference_rows((f"{name} − {next(iter(per.values()), {}).get('reference', '?')}", per)
                                  for name, per in seeds["paired_differences"].items())
    return lines


def _plots(results, figdir: Path, steps: int, curves: dict[str, list[dict[str, Any]]] | None = None) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, r in results.items():
        t = r["training"]
        if t["valid_mel"]:
            axes[0].plot(*zip(*t["valid_mel"]), marker="o", label=name)
    axes[0].set(title="validation loss: each variant's own mel loss\n(test-clean; not comparable across mel readings)",
                xlabel="step")
    _curve_plot(axes[1], results, "d_curve", "discriminator loss (train)", steps)
    _curve_plot(axes[2], results, "ppl_curve", "RVQ-1 perplexity (training window)", steps)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    written.append(_save(plt, fig, figdir / "training_curves.png"))
    metrics = ("stoi", "pesq", "visqol", "mel_distance", "wer", "si_sdr")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 4))
    names = [n for n, r in results.items() if "metrics" in r]
    for ax, m in zip(axes, metrics):
        _errorbars(ax, range(len(names)), [results[n]["metrics"][m] for n in names], fmt="o", capsize=4)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{METRICS[m][0]} ({'↑' if METRICS[m][1] else '↓'}), 95 % CI", fontsize=9)
    written.append(_save(plt, fig, figdir / "metrics_ci.png"))
    if curves:
        shown = ("stoi", "mel_distance", "wer", "wil")
        fig, axes = plt.subplots(2, len(shown), figsize=(4.2 * len(shown), 7.2), squeeze=False)
        for run, points in curves.items():
            for col, m in enumerate(shown):
                pts = [q for q in points if m in q]
                _errorbars(axes[0][col], [q["step"] for q in pts], [q[m] for q in pts], fmt="o-", capsize=3,
                           label=run)
                timed = [q for q in pts if "cpu_minutes" in q]
                if timed:
                    _errorbars(axes[1][col], [q["cpu_minutes"] for q in timed], [q[m] for q in timed], fmt="o-",
                               capsize=3, label=run)
        for col, m in enumerate(shown):
            axes[0][col].set(title=f"{METRICS[m][0]} on held-out speech, 95 % CI", xlabel="training step")
            axes[1][col].set(xlabel="training CPU minutes")
            if len(curves) > 1:
                axes[0][col].legend(fontsize=7)
        written.append(_save(plt, fig, figdir / "learning_curve.png"))
    return written


def _errorbars(ax, x, stats: Sequence[dict[str, float]], **style: Any) -> None:
    """Means with their (asymmetric) 95 % intervals from ``{"mean", "ci_low", "ci_high"}`` records."""
    means = [t["mean"] for t in stats]
    yerr = [[t["mean"] - t["ci_low"] for t in stats], [t["ci_high"] - t["mean"] for t in stats]]
    ax.errorbar(list(x), means, yerr=yerr, **style)
    ax.grid(alpha=0.3)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _curve_plot(ax, results, key: str, title: str, steps: int) -> None:
    for name, r in results.items():
        c = r["training"].get(key)
        if c:
            ax.plot(*zip(*c), label=name, lw=1)
    if key == "d_curve":
        ax.axhline(D_LOSS_INITIAL, color="k", lw=0.6, ls=":")
        if steps:  # a step budget (not --minutes alone)
            ax.axvline(0.1 * steps, color="r", lw=0.6, ls="--", label="10 % of budget")
    ax.set(title=title, xlabel="step")

"""The harness as a train-end evaluator (``evaluation: {evaluator: harness, ...}``, the default).

A training config's ``evaluation`` section hands the export to the same protocol as
``tokenizer-bench compare`` (records, tables, report in ``evaluation.out``); this module is that
evaluator, registered through the ``register_evaluators`` hook (:mod:`.plugin`), so the trainer
reaches the harness through the registry and core never imports it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable


def evaluate_with_harness(cfg: Any, export_dir: str | Path, run_dir: str | Path,
                          say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the harness on ``export_dir`` with ``cfg.evaluation``; returns the row's figures and paths."""
    from tokenizer_bench.benchmarks.harness.report import render_outputs
    from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
    from tokenizer_bench.benchmarks.harness.systems import SystemSpec

    ev = cfg.evaluation
    if ev is None:
        raise ValueError("the config has no evaluation section")
    out = Path(ev.out) if ev.out else Path(run_dir) / "evaluation"
    asr: dict[str, Any] = {"asr": ev.asr} if ev.asr is not None else {}
    if not asr:
        _check_no_transcript_metrics(list(ev.metrics))
    ccfg = CompareConfig(
        systems=[SystemSpec(name=cfg.model.tokenizer, checkpoint=str(export_dir))], data=list(ev.data), out=out,
        num_samples=ev.num_samples, seed=ev.seed, metrics=list(ev.metrics), **asr,
        asr_options=dict(ev.asr_options), aso_iterations=100, plots=False,
    )
    say(f"scoring the export on held-out speech ({', '.join(ev.data)}) with {', '.join(ev.metrics)}")
    run_compare(ccfg, render=False)
    render_outputs(out, plots=False)
    results = json.loads((out / "results.json").read_text())
    summary = summarise(results, cfg.model.tokenizer)
    summary["report"] = str(out / "report.html")
    say(format_summary(summary))
    return summary


def summarise(results: dict[str, Any], tokenizer: str) -> dict[str, Any]:
    """The trained row's headline figures (corpus WER/WIL, means of the rest) and the ground truth's."""
    rows = results["rows"]
    label = next(k for k, r in rows.items() if not r.get("ground_truth"))
    figures = {m: (v.get("corpus") if v.get("corpus") is not None else v.get("mean"))
               for m, v in rows[label].get("metrics", {}).items()}
    gt = {m: v.get("corpus") for m, v in rows.get("Ground truth", {}).get("metrics", {}).items()}
    return {"label": label, "num_utterances": results["run"].get("num_utterances"), "metrics": figures,
            "ground_truth": gt, "failed": rows[label].get("n_failed", 0),
            "meta": results["run"].get("metrics", {})}


def format_summary(s: dict[str, Any]) -> str:
    """One line of the trained row's figures, each printed as its metric declares (``MetricMeta``:
    display name, unit, scale, decimals, as in the report's tables), the ground truth's next to it."""
    from tokenizer_bench.benchmarks.harness.cells import fmt

    parts = []
    for m, v in s["metrics"].items():
        if v is None or not math.isfinite(v):
            continue
        meta = s.get("meta", {}).get(m)
        if meta is None:  # a summary without the run's metric declarations: the raw value
            parts.append(f"{m} {v:.3f}")
            continue
        unit = f" {meta['unit']}" if meta["unit"] else ""
        gt = s["ground_truth"].get(m)
        parts.append(f"{meta['display']} {fmt(meta, v)}{unit}"
                     + (f" (ground truth {fmt(meta, gt)}{unit})" if gt is not None else ""))
    failed = f", {s['failed']} failed" if s.get("failed") else ""
    return (f"held-out evaluation of {s['label']} on {s['num_utterances']} utterances{failed}: "
            + ", ".join(parts) + f"\nreport: {s['report']}")


def _check_no_transcript_metrics(metrics: list[str]) -> None:
    """Without ``evaluation.asr`` no metric may need an ASR transcript (a clear error naming them)."""
    from tokenizer_bench.core.errors import ConfigError
    from tokenizer_bench.core.plugins import get_registry

    registry = get_registry("metrics")
    needing = [m for m in metrics if getattr(getattr(registry.get(m).factory, "needs", None), "transcript", False)]
    if needing:
        raise ConfigError(f"evaluation.metrics {', '.join(needing)} need an ASR transcript: set evaluation.asr to a "
                          "registered ASR backend (`tokenizer-bench plugins` lists asr_backends)")


def build_harness_evaluator() -> Callable[..., dict[str, Any]]:
    """Scores the export with the benchmark harness (the ``compare`` protocol) on ``evaluation.data``."""
    return evaluate_with_harness

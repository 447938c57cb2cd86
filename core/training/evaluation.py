"""Score a freshly exported tokenizer when training ends (``evaluation:`` in a config).

Why: a run that ends with "exported" says the loop ran, not what the codec does. With an
``evaluation`` section the trainer's ``train()`` hands the export to the registered evaluator
that ``evaluation.evaluator`` names (the benchmark harness's ``harness`` by default, registered by
``tokenizer_bench.benchmarks.harness`` through the ``register_evaluators`` hook like any plugin):
core knows the contract, not the harness.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.core.train_config import TrainConfig


def evaluate_export(cfg: TrainConfig, export_dir: str | Path, run_dir: str | Path,
                    say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``cfg.evaluation.evaluator`` on ``export_dir``; returns its figures."""
    ev = cfg.evaluation
    if ev is None:
        raise ValueError("the config has no evaluation section")
    evaluate = get_registry("evaluators").build(ev.evaluator)
    return dict(evaluate(cfg, Path(export_dir), Path(run_dir), say))

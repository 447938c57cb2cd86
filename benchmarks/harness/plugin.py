"""The benchmark harness as a plugin: its commands and its train-end evaluator.

Listed under the ``tokenizer_bench`` entry-point group (``harness``) like any third-party
package, so ``tokenizer-bench plugins`` shows ``compare`` as a command of the harness and core
imports nothing from here.
"""

from __future__ import annotations

from typing import Any

from tokenizer_bench.core.hookspecs import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from tokenizer_bench.benchmarks.harness.cli import add_commands

    add_commands(cli)


@hookimpl
def register_evaluators(register) -> None:
    from tokenizer_bench.benchmarks.harness.evaluator import build_harness_evaluator

    register("harness", build_harness_evaluator)

"""Built-in sub-commands, registered through the same ``register_commands`` hook as plugins.

Each command lives beside the feature it drives; this plugin only wires in core's own. The
harness's ``compare`` registers itself (``tokenizer_bench.benchmarks.harness.plugin``).
"""

from __future__ import annotations

import importlib
from typing import Any

from tokenizer_bench.core.hookspecs import hookimpl

# Modules defining ``add_commands(app)``; each imports its heavy dependencies lazily.
COMMAND_MODULES = (
    "tokenizer_bench.core.cli.codec",
    "tokenizer_bench.core.cli.push",
    "tokenizer_bench.core.training.cli",
)


@hookimpl
def register_commands(cli: Any) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(cli)

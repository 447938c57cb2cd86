"""Built-in sub-commands, registered through the same ``register_commands`` hook as plugins.

Each command lives in the module of the feature it drives; this plugin only wires them in, and
imports them lazily so ``tokenizer-bench --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    return None

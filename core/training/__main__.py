"""``python -m tokenizer_bench.core.training train|export|download ...`` (the same commands as the main CLI).

Handy under launchers: ``torchrun --nproc_per_node 8 -m tokenizer_bench.core.training train CONFIG``.
"""

from __future__ import annotations

import os
import sys

import typer

from tokenizer_bench.core.errors import TokenizerBenchError
from tokenizer_bench.core.training.cli import add_commands

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
add_commands(app)


def main() -> None:
    try:
        app(prog_name="python -m tokenizer_bench.core.training")
    except TokenizerBenchError as exc:
        if os.environ.get("TOKENIZER_BENCH_DEBUG") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

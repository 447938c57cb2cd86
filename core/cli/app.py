"""The ``tokenizer-bench`` command line.

Sub-commands come from the ``register_commands`` hook (built-ins and third-party plugins alike).
User errors (:class:`TokenizerBenchError`) print one short message and exit with code 2; pass
``--debug`` anywhere on the command line for the full traceback.
"""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.console import Console
from rich.table import Table

from ..errors import TokenizerBenchError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="tokenizer-bench",
    help="Train speech tokenizers assembled from plugins (DM-Codec first) and compare them on one benchmark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        from tokenizer_bench import __version__

        console.print(f"tokenizer-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    offline: bool = typer.Option(
        False, "--offline", help="Use only the Hugging Face cache, never download (as HF_HUB_OFFLINE=1)."
    ),
) -> None:
    """tokenizer-bench command line."""
    if debug:
        os.environ["TOKENIZER_BENCH_DEBUG"] = "1"
    if offline:
        from ..hub import set_offline

        set_offline()


@app.command("plugins")
def plugins_command(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    kind: str = typer.Option(None, "--kind", help="Only this component kind."),
) -> None:
    """List every registered component by kind, with the package that provides it."""
    from ..api import list_components
    from ..plugins import command_sources

    components = list_components()
    components["commands"] = [{"name": n, "source": src, "description": _command_help(n)}
                              for n, src in sorted(command_sources().items())]
    if kind is not None:
        if kind not in components:
            raise TokenizerBenchError(f"unknown kind {kind!r}; kinds: {', '.join(components)}")
        components = {kind: components[kind]}
    if as_json:
        typer.echo(json.dumps(components, indent=2))
        return
    for k, entries in components.items():
        table = Table(title=f"{k} ({len(entries)})", title_justify="left", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("source")
        table.add_column("description")
        for e in entries:
            table.add_row(e["name"], e["source"], e["description"])
        console.print(table)


def _command_help(name: str) -> str:
    for info in app.registered_commands:
        callback = info.callback
        if (info.name or (callback.__name__.replace("_", "-") if callback else None)) == name:
            doc = info.help or (callback.__doc__ if callback else None) or ""
            return doc.strip().splitlines()[0] if doc.strip() else ""
    return ""


@app.command("configs")
def configs_command() -> None:
    """List the configs shipped with the package (usable by name, from any directory)."""
    from ..config import packaged_config_names

    for name in packaged_config_names():
        console.print(name)


@app.command("show-config")
def show_config_command(
    config: str = typer.Argument(..., help="Config file or packaged config name."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: a.b=c (repeatable)."),
) -> None:
    """Resolve a training config (extends + --set), validate it and print the result as YAML."""
    from ..config import dump_config, load_config
    from ..train_config import TrainConfig

    cfg = load_config(config, TrainConfig, overrides)
    typer.echo(dump_config(cfg), nl=False)


_commands_installed = False


def _install_plugin_commands() -> None:
    global _commands_installed
    if _commands_installed:
        return
    from ..plugins import install_commands

    install_commands(app)
    _commands_installed = True


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("TOKENIZER_BENCH_DEBUG") == "1"
    try:
        _install_plugin_commands()
        app(args=args, prog_name="tokenizer-bench", standalone_mode=True)
    except SystemExit:
        raise
    except TokenizerBenchError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()

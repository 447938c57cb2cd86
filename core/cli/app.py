"""The ``tokenizer-bench`` command line.

Sub-commands come from the ``register_commands`` hook (built-ins and third-party plugins alike).

:func:`run` is the one error boundary of every command (docs/cli_errors.md lists the outcomes):

* user errors (:class:`TokenizerBenchError`) print one ``error:`` line and exit with their
  ``exit_code`` (2, a usage error, unless the class says otherwise); so do bad options (Click);
* an ``OSError`` (a full disk, no permission, a file where a folder should be) prints one line
  naming the path and exits 1;
* anything else is a bug: one line with the exception and where it was raised, exit 1;
* Ctrl-C prints ``interrupted`` and exits 130.

``--debug`` anywhere on the command line shows the full traceback instead.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tokenizer_bench.core.errors import TokenizerBenchError

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
        from tokenizer_bench.core.hub import set_offline

        set_offline()


@app.command("plugins")
def plugins_command(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    kind: str = typer.Option(None, "--kind", help="Only this component kind."),
) -> None:
    """List every registered component by kind, with the package that provides it."""
    from tokenizer_bench.core.api import list_components
    from tokenizer_bench.core.plugins import command_sources

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
    from tokenizer_bench.core.config import packaged_config_names

    for name in packaged_config_names():
        console.print(name)


@app.command("show-config")
def show_config_command(
    config: str = typer.Argument(..., help="Config file or packaged config name."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: a.b=c (repeatable)."),
) -> None:
    """Resolve a training config (extends + --set), validate it and print the result as YAML."""
    from tokenizer_bench.core.config import dump_config, load_config
    from tokenizer_bench.core.train_config import TrainConfig

    cfg = load_config(config, TrainConfig, overrides)
    typer.echo(dump_config(cfg), nl=False)


_commands_installed = False


def _install_plugin_commands() -> None:
    global _commands_installed
    if _commands_installed:
        return
    from tokenizer_bench.core.plugins import install_commands

    install_commands(app)
    _commands_installed = True


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one line (without ``error:``) and the exit code the CLI reports for ``exc``."""
    if isinstance(exc, TokenizerBenchError):
        return str(exc), int(getattr(exc, "exit_code", 2))
    if isinstance(exc, OSError):
        return _describe_os_error(exc), 1
    where = ""
    tb = exc.__traceback__
    if tb is not None:
        frame = traceback.extract_tb(tb)[-1]
        where = f" ({_short_path(frame.filename)}:{frame.lineno})"
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}{where}; rerun with --debug for the traceback", 1


def _describe_os_error(exc: OSError) -> str:
    path = exc.filename if exc.filename is not None else "(path unknown)"
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device while writing {path}; free some space and rerun"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied: {path} ({exc.strerror}); choose a writable location"
    if exc.errno == errno.EEXIST or exc.errno == errno.ENOTDIR:
        return f"{path}: {exc.strerror} (a file is where a folder is needed)"
    if exc.errno == errno.EISDIR:
        return f"{path}: {exc.strerror} (a folder is where a file is needed)"
    return f"{path}: {exc.strerror or exc}"


def _short_path(filename: str) -> str:
    """A source file relative to the installed package (``core/cli/codec.py``), else as given."""
    root = Path(__file__).resolve().parents[2]
    try:
        return str(Path(filename).resolve().relative_to(root))
    except ValueError:
        return filename


def _report(text: str) -> None:
    from rich.text import Text

    err_console.print(Text.assemble(("error:", "bold red"), " ", text), soft_wrap=True)


def run(argv: list[str], debug: bool | None = None) -> int:
    """Run the command line ``argv`` (without the program name) and return its exit code.

    The one error boundary of every command, built-in or from a plugin: Click's own exception
    handling (which turns Ctrl-C into a silent exit 130) is not used; see the module docstring.
    """
    # Typer vendors Click (typer._click): its exceptions are the ones commands and options raise.
    from typer.core import _click as click

    args = list(argv)
    if debug is None:
        debug = "--debug" in args or os.environ.get("TOKENIZER_BENCH_DEBUG") == "1"
    try:
        _install_plugin_commands()
        command = typer.main.get_command(app)
        with command.make_context("tokenizer-bench", args) as ctx:
            command.invoke(ctx)
        return 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.ClickException as exc:  # bad options and arguments: the usage message, exit 2
        _show_usage_error(exc)
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("[yellow]interrupted[/]")
        return 130
    except Exception as exc:
        if debug:
            raise
        text, code = describe_error(exc)
        _report(text)
        return code


def _show_usage_error(exc: Exception) -> None:
    """Click's usage error as Typer shows it (a rich panel unless TYPER_USE_RICH=0)."""
    from typer import core, rich_utils

    if core.HAS_RICH:
        rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
    else:
        exc.show()  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":  # pragma: no cover
    main()

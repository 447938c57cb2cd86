"""The layering of the package: .ci/import_graph.py finds no cycle and no core -> plugins/benchmarks edge."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from tokenizer_bench.core.plugins import install_commands

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / ".ci" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_cycle_and_no_forbidden_edge():
    assert _script().problems(ROOT) == []


def test_the_check_finds_a_cycle_and_a_core_to_benchmarks_edge(tmp_path):
    # a hand-made package: core/a imports core/b, core/b imports core/a lazily and benchmarks by string
    (tmp_path / "core").mkdir()
    (tmp_path / "benchmarks").mkdir()
    for folder in ("", "core", "benchmarks"):
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("from . import b\n")
    (tmp_path / "core" / "b.py").write_text(
        "def f():\n    from .a import g\n\nMODULES = ('tokenizer_bench.benchmarks.c',)\n")
    (tmp_path / "benchmarks" / "c.py").write_text("from tokenizer_bench.core import a\n")
    found = _script().problems(tmp_path)
    assert "forbidden edge tokenizer_bench.core.b -> tokenizer_bench.benchmarks.c (core must not import benchmarks)" \
        in found
    assert "import cycle: tokenizer_bench.benchmarks.c <-> tokenizer_bench.core.a <-> tokenizer_bench.core.b" in found
    assert len(found) == 2


def test_compare_is_a_command_of_the_harness_plugin():
    sources = install_commands(typer.Typer())
    assert sources["compare"] == "tokenizer-bench:harness"
    assert sources["train"] == "tokenizer-bench:commands"

#!/usr/bin/env python3
"""The import graph of tokenizer_bench: fail on a cycle or on a forbidden layer edge.

Layers: ``core`` knows interfaces only, so nothing in ``tokenizer_bench.core`` may import
``tokenizer_bench.plugins`` or ``tokenizer_bench.benchmarks`` (they plug in through the hooks of
core/hookspecs.py). Every import counts, a function-level one too: a lazy import hides an edge
from the interpreter, not from the design, and so does a string that names a module of the package (what
``importlib.import_module`` receives). A cycle is a set of modules that import each other,
directly or through others (strongly connected components of the module graph); a package's
``__init__`` importing its own submodules is not an edge back to itself.

The repository root is the package (``package-dir = {tokenizer_bench = "."}``); the graph is built
from the source with :mod:`ast`, nothing is imported. Usage: ``python .ci/import_graph.py [ROOT]``;
exit status 1 with a list of the problems, 0 with a one-line summary.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "tokenizer_bench"
#: Top-level folders that are not part of the package.
SKIP = {"tests", "examples", "build", "dist", "runs", "cache", "outputs", "docs", ".venv", ".venv-peer", ".git",
        ".ci"}
#: (importer prefix, imported prefix) pairs that must not occur.
FORBIDDEN = (
    (f"{PACKAGE}.core", f"{PACKAGE}.plugins"),
    (f"{PACKAGE}.core", f"{PACKAGE}.benchmarks"),
)


def module_files(root: Path) -> dict[str, Path]:
    """``tokenizer_bench.x.y`` -> file, for every ``.py`` of the package."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP or any(part.startswith(".") for part in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join([PACKAGE, *parts])] = path
    return out


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """Modules of the package that ``module`` imports (absolute or relative, at any depth)."""
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules:
            names = [node.value]  # a module named by string, for importlib.import_module
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith(PACKAGE) and name != module:
                found.add(name)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    files = module_files(root)
    names = set(files)
    edges = {m: imports_of(m, p, names) for m, p in files.items()}
    # a package's __init__ importing (or forwarding to) its own submodules is not a dependency back
    return {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in edges.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def problems(root: Path) -> list[str]:
    edges = graph(root)
    found = [f"forbidden edge {src} -> {dst} ({a.split('.')[-1]} must not import {b.split('.')[-1]})"
             for src in sorted(edges) for dst in sorted(edges[src])
             for a, b in FORBIDDEN if src.startswith(a) and dst.startswith(b)]
    found += ["import cycle: " + " <-> ".join(c) for c in cycles(edges)]
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    found = problems(root)
    for line in found:
        print(line)
    if found:
        print(f"import graph: {len(found)} problem(s)", file=sys.stderr)
        return 1
    edges = graph(root)
    print(f"import graph: {len(edges)} modules, {sum(map(len, edges.values()))} edges, no cycle, no forbidden edge")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

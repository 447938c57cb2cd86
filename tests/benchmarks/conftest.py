"""Fixtures shared by the benchmark tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark_script() -> Callable[[str], ModuleType]:
    """Import a benchmark script by its path under benchmarks/ (scripts such as
    benchmarks/perf/*.py and benchmarks/results/token_probe.py are files, not modules of a package).
    As ``python benchmarks/perf/X.py`` does, the script's folder is first on the import path while it
    loads, so its sibling modules (``import _measure``) resolve."""

    def load(relative: str) -> ModuleType:
        path = BENCHMARKS / relative
        spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        with pytest.MonkeyPatch.context() as mp:
            mp.syspath_prepend(str(path.parent))
            spec.loader.exec_module(module)
        return module

    return load

"""Every package of the namespace is listed for non-editable installs; nothing leaks to top level."""

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("core", "plugins", "benchmarks", "configs")


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"tokenizer_bench"}
    for top in SOURCE_DIRS:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            found.add(".".join(("tokenizer_bench", *rel.parts)))
    assert sorted(found - listed) == [], "add these to [tool.setuptools] packages in pyproject.toml"


def test_perf_scripts_are_not_shipped():
    """benchmarks/perf/ holds scripts run from a checkout (``python benchmarks/perf/X.py``), not a package:
    no ``__init__.py`` and absent from the packages list, so the wheel does not carry them."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert not any(name.startswith("tokenizer_bench.benchmarks.perf") for name in listed)
    assert not (ROOT / "benchmarks" / "perf" / "__init__.py").exists()


def test_no_top_level_core_or_plugins_module_is_importable_from_site_packages():
    import importlib.util

    for name in ("core", "plugins", "benchmarks"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            # Only acceptable when running from the repository root itself (cwd on sys.path).
            assert Path(spec.origin).resolve().is_relative_to(ROOT), f"stray top-level module {name}: {spec.origin}"


def test_public_api():
    import tokenizer_bench

    assert callable(tokenizer_bench.load_tokenizer)
    assert tokenizer_bench.Tokenizer.__name__ == "Tokenizer"
    assert sys.modules["tokenizer_bench"].__version__

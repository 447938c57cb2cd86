"""Publish a tokenizer to the Hugging Face hub: the export folder, a generated model card, one commit.

Why a module of its own: the CLI (``tokenizer-bench push``) and the Python API
(:meth:`Tokenizer.push_to_hub`) must upload the same thing. Before anything is sent the export is
loaded with its registered tokenizer, so a folder that would not load back by repo id is refused
here, and the card's numbers come from the loaded model (:mod:`core.model_card`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Protocol

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.core.model_card import build_model_card, read_run_config
from tokenizer_bench.core.plugins import get_registry


class Publishable(Protocol):
    """What publishing needs of a tokenizer (:class:`~.tokenizer.Tokenizer` has it).

    A protocol rather than the class: ``Tokenizer.push_to_hub`` calls this module, so importing
    the tokenizer module back from here would close an import circle.
    """

    @property
    def name(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    def save_pretrained(self, directory: Any) -> Any: ...


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else None


def _read_config(export_dir: Path, tokenizer_name: str | None) -> tuple[str, dict]:
    """``(registered tokenizer name, config.json)`` of an export folder.

    The name is ``tokenizer_name`` if given, else the ``tokenizer`` key of ``config.json`` (our
    layout) or of the wrapper's options file beside the official weights (any top-level
    ``<name>_config.json`` that has one).
    """
    files = sorted(export_dir.glob("*.json"))
    if not files:
        raise CheckpointError(f"{export_dir}: no config JSON; pass a folder written by `tokenizer-bench train`/"
                              "`export` or save_pretrained")
    config_path = export_dir / "config.json"
    config = (_read_json(config_path) if config_path.is_file() else None) or {}
    if tokenizer_name:
        return tokenizer_name, config
    for path in [config_path] + [f for f in files if f != config_path]:
        data = config if path == config_path else _read_json(path)
        if data and isinstance(data.get("tokenizer"), str):
            return data["tokenizer"], config
    raise CheckpointError(f"{export_dir}: no JSON file names its tokenizer (a 'tokenizer' key); "
                          "pass the name (CLI: --tokenizer NAME)")


def _read_results(path: str | Path | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--compare-results {p}: no such file (give the results.md of a `compare` run)")
    text = p.read_text()
    if "|" not in text:
        raise ConfigError(f"--compare-results {p}: holds no Markdown table")
    return text


def push_export(export_dir: str | Path, repo_id: str, *, compare_results: str | Path | None = None,
                private: bool = False, branch: str | None = None, commit_message: str | None = None,
                token: str | None = None, tokenizer: Publishable | None = None,
                tokenizer_name: str | None = None) -> str:
    """Upload ``export_dir`` with a README.md model card to ``repo_id``; returns the commit URL.

    ``compare_results``: a ``results.md`` written by ``tokenizer-bench compare`` (copied into the
    card). ``tokenizer``: the already-loaded model (skips loading the folder again);
    ``tokenizer_name``: the registered name, when the folder's JSON files do not say it.
    """
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise CheckpointError(f"{export_dir}: no such export folder")
    if not hub.looks_like_repo_id(repo_id) or "/" not in repo_id:
        raise ConfigError(f"repo id {repo_id!r}: expected owner/name")
    name, config = _read_config(export_dir, tokenizer.name if tokenizer is not None else tokenizer_name)
    results = _read_results(compare_results)
    tok = tokenizer if tokenizer is not None else get_registry("tokenizers").get(name).factory(
        checkpoint=str(export_dir))
    run_config, _ = read_run_config(export_dir)
    card = build_model_card(repo_id, tok.describe(), config, run_config, results,
                            loads_by_repo_id=bool(getattr(type(tok), "loads_pushed_repo_ids", False)))
    return hub.push_folder(export_dir, repo_id, card=card, private=private, branch=branch,
                           commit_message=commit_message, token=token)


def push_tokenizer(tok: Publishable, repo_id: str, **options) -> str:
    """``save_pretrained`` into a temporary folder, then :func:`push_export` it."""
    with tempfile.TemporaryDirectory(prefix="tokenizer-bench-push-") as tmp:
        folder = Path(tmp) / "tokenizer"
        tok.save_pretrained(folder)
        return push_export(folder, repo_id, tokenizer=tok, **options)


__all__ = ["push_export", "push_tokenizer"]

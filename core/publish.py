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
from typing import TYPE_CHECKING

from . import hub
from .errors import CheckpointError, ConfigError
from .model_card import build_model_card, read_run_config

if TYPE_CHECKING:
    from .tokenizer import Tokenizer


def _read_config(export_dir: Path) -> dict:
    path = export_dir / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{export_dir}: no config.json; pass a folder written by `tokenizer-bench train`/"
                              "`export` or save_pretrained")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("tokenizer"), str):
        raise CheckpointError(f"{path}: no 'tokenizer' key; not a tokenizer-bench export")
    return data


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
                token: str | None = None, tokenizer: "Tokenizer | None" = None) -> str:
    """Upload ``export_dir`` with a README.md model card to ``repo_id``; returns the commit URL.

    ``compare_results``: a ``results.md`` written by ``tokenizer-bench compare`` (copied into the
    card). ``tokenizer``: the already-loaded model (skips loading the folder again).
    """
    from .api import load_tokenizer

    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise CheckpointError(f"{export_dir}: no such export folder")
    if not hub.looks_like_repo_id(repo_id) or "/" not in repo_id:
        raise ConfigError(f"repo id {repo_id!r}: expected owner/name")
    config = _read_config(export_dir)
    results = _read_results(compare_results)
    tok = tokenizer if tokenizer is not None else load_tokenizer(config["tokenizer"], str(export_dir))
    run_config, _ = read_run_config(export_dir)
    card = build_model_card(repo_id, tok.describe(), config, run_config, results)
    return hub.push_folder(export_dir, repo_id, card=card, private=private, branch=branch,
                           commit_message=commit_message, token=token)


def push_tokenizer(tok: "Tokenizer", repo_id: str, **options) -> str:
    """``save_pretrained`` into a temporary folder, then :func:`push_export` it."""
    with tempfile.TemporaryDirectory(prefix="tokenizer-bench-push-") as tmp:
        folder = Path(tmp) / "tokenizer"
        tok.save_pretrained(folder)
        return push_export(folder, repo_id, tokenizer=tok, **options)


__all__ = ["push_export", "push_tokenizer"]

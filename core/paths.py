"""Where optional external folders live.

The shared data and reference folders are never part of the project: their locations come from
environment variables, falling back to ``../shared`` beside a source checkout. Callers must treat
``None`` as "absent" and say so (tests skip with the reason).
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_ENV = "TOKENIZER_BENCH_SHARED"
DATA_ENV = "TOKENIZER_BENCH_LIBRISPEECH_MINI"
REFERENCE_ENV = "TOKENIZER_BENCH_REFERENCE"

_REPO_ROOT = Path(__file__).resolve().parent.parent


def repo_root() -> Path:
    return _REPO_ROOT


def shared_dir() -> Path | None:
    raw = os.environ.get(SHARED_ENV)
    path = Path(raw) if raw else _REPO_ROOT.parent / "shared"
    return path if path.is_dir() else None


def _sub(env: str, *parts: str) -> Path | None:
    raw = os.environ.get(env)
    if raw:
        p = Path(raw)
        return p if p.is_dir() else None
    base = shared_dir()
    if base is None:
        return None
    p = base.joinpath(*parts)
    return p if p.is_dir() else None


def librispeech_mini_dir() -> Path | None:
    """``librispeech-mini`` (real LibriSpeech utterances), or None when absent."""
    return _sub(DATA_ENV, "data", "librispeech-mini")


def reference_dir() -> Path | None:
    """Official checkpoint layouts (``*_state_dict.json``), or None when absent."""
    return _sub(REFERENCE_ENV, "reference")

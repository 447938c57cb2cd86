"""Library entry points that do not need the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .plugins import get_registry, registries
from .tokenizer import Tokenizer


def load_tokenizer(name: str, checkpoint: str | Path | None = None, **options: Any) -> Tokenizer:
    """Build the registered tokenizer ``name``.

    ``checkpoint`` is a local directory (``save_pretrained`` output or the tokenizer's official
    layout) or, for wrappers of published models, a hub id. ``options`` are passed to the
    tokenizer's factory (e.g. ``n_q``, ``bandwidth``, ``encoder_args``).
    """
    entry = get_registry("tokenizers").get(name)
    return entry.factory(checkpoint=checkpoint, **options)


def list_components() -> dict[str, list[dict[str, str]]]:
    """Every registered component by kind, with the distribution that provided it."""
    return {
        kind: [
            {"name": e.name, "source": e.source, "description": e.description}
            for e in reg.entries()
        ]
        for kind, reg in registries().items()
    }

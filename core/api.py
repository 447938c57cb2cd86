"""Library entry points that do not need the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokenizer_bench.core.plugins import get_registry, registries
from tokenizer_bench.core.registry import check_arguments
from tokenizer_bench.core.tokenizer import Tokenizer, verify_weights_hash


def load_tokenizer(name: str, checkpoint: str | Path | None = None, **options: Any) -> Tokenizer:
    """Build the registered tokenizer ``name``.

    ``checkpoint`` is a local directory (``save_pretrained`` output or the tokenizer's official
    layout) or, for wrappers of published models, a hub id. ``options`` are passed to the
    tokenizer's factory (e.g. ``n_q``, ``bandwidth``, ``encoder_args``). A local folder that
    records the hash of its weights (``weights_hash.json``, written by ``export``) must match it.
    """
    entry = get_registry("tokenizers").get(name)
    check_arguments(entry, {"checkpoint": checkpoint, **options}, where=f"tokenizer {name!r} options")
    tok = entry.factory(checkpoint=checkpoint, **options)
    if checkpoint is not None and Path(checkpoint).expanduser().is_dir():
        verify_weights_hash(tok, Path(checkpoint).expanduser())
    return tok


def list_components() -> dict[str, list[dict[str, str]]]:
    """Every registered component by kind, with the distribution that provided it."""
    return {
        kind: [
            {"name": e.name, "source": e.source, "description": e.description}
            for e in reg.entries()
        ]
        for kind, reg in registries().items()
    }

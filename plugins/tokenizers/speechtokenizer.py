"""SpeechTokenizer baseline (``speechtokenizer``): fnlp/SpeechTokenizer, hubert_avg variant by default.

Its generator is the DM-Codec generator (same code, same keys), so this wrapper reuses
:class:`~tokenizer_bench.plugins.tokenizers.dm_codec.DMCodecTokenizer` and only differs in where
weights come from:

* ``checkpoint`` = a local directory in the official layout (``config.json`` +
  ``SpeechTokenizer.pt``; a directory holding the ``<variant>/`` sub-folder also works) or one
  written by ``save_pretrained``;
* ``checkpoint`` = a Hugging Face repo id (default ``fnlp/SpeechTokenizer``): the two files of its
  ``<variant>/`` folder are downloaded into the Hugging Face cache on first use (``revision`` pins a
  commit; ``HF_HUB_OFFLINE=1`` or ``--offline``: cache only). When they cannot be had a
  :class:`MissingDependencyError` names the files and the ``hf download`` command;
* ``random_init=True``: an untrained model from the official architecture keys (stand-in for tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import CheckpointError, ConfigError

from tokenizer_bench.plugins.tokenizers.dm_codec import CONFIG_NAME, DMCodecTokenizer

DEFAULT_REPO = "fnlp/SpeechTokenizer"
DEFAULT_VARIANT = "speechtokenizer_hubert_avg"
OFFICIAL_WEIGHTS = "SpeechTokenizer.pt"


class SpeechTokenizerTokenizer(DMCodecTokenizer):
    """SpeechTokenizer (Zhang et al., 2024): 16 kHz, 50 Hz, 8 x 1024-entry RVQ codebooks."""

    name: ClassVar[str] = "speechtokenizer"
    loads_pushed_repo_ids: ClassVar[bool] = False  # a repo id means the official <variant>/ layout
    official_weights_name: ClassVar[str] = OFFICIAL_WEIGHTS


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~")) and "\\" not in text


def resolve_from_hub(repo_id: str, variant: str, weights_file: str, cache_dir: str | Path | None = None,
                     revision: str | None = None) -> Path:
    """The ``<variant>/`` folder of ``repo_id`` holding config.json and the weights, via :mod:`core.hub`
    (downloaded into the Hugging Face cache on first use; cache only when offline)."""
    wanted = [f"{variant}/{CONFIG_NAME}", f"{variant}/{weights_file}"]
    found = hub.fetch_files(repo_id, wanted, revision=revision, cache=cache_dir, what="SpeechTokenizer weights",
                            hint=f"or pass checkpoint=DIR/{variant} (a folder holding {' and '.join(wanted)})")
    folder = found[0].parent
    if found[1].parent != folder:
        raise CheckpointError(f"{repo_id}: cached {wanted[0]} and {wanted[1]} are in different snapshots; "
                              "re-download both")
    return folder


def build_speechtokenizer(
    checkpoint: str | Path | None = None,
    *,
    variant: str = DEFAULT_VARIANT,
    weights_file: str | None = None,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    random_init: bool = False,
    n_q: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    **architecture: Any,
) -> SpeechTokenizerTokenizer:
    """SpeechTokenizer from a local directory, the hub (``checkpoint`` = repo id), or random init.

    ``n_q``: with a checkpoint, how many of its codebooks to use by default; with
    ``random_init``, the RVQ depth (an official architecture key, like the other ``architecture``
    options: ``n_filters, strides, dimension, ...``; defaults = hubert_avg's config).
    """
    if random_init:
        if checkpoint is not None:
            raise ConfigError("speechtokenizer: random_init=True builds an untrained model; do not pass a checkpoint")
        extra = {"n_q": n_q} if n_q is not None else {}
        return SpeechTokenizerTokenizer.from_options(seed=seed, device=device, **architecture, **extra)
    if architecture:
        raise ConfigError(f"speechtokenizer: architecture option(s) {', '.join(sorted(architecture))} apply only with "
                          "random_init=True; a checkpoint brings its own config")
    load_opts: dict[str, Any] = {"n_q": n_q, "device": device}
    checkpoint = DEFAULT_REPO if checkpoint is None else checkpoint
    local = Path(checkpoint).expanduser()
    if local.is_dir():
        if not (local / CONFIG_NAME).is_file() and (local / variant / CONFIG_NAME).is_file():
            local = local / variant
        folder = local
    elif _looks_like_repo_id(str(checkpoint)):
        folder = resolve_from_hub(str(checkpoint), variant, weights_file or OFFICIAL_WEIGHTS, cache_dir, revision)
        weights_file = weights_file or OFFICIAL_WEIGHTS
    else:
        raise CheckpointError(f"{checkpoint}: not a directory and not a Hugging Face repo id (owner/name)")
    if weights_file is not None:
        load_opts["weights_file"] = weights_file
    return SpeechTokenizerTokenizer.from_pretrained(folder, **{k: v for k, v in load_opts.items() if v is not None})


def register_tokenizers(register) -> None:
    register("speechtokenizer", build_speechtokenizer)

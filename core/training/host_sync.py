"""Counting the places where a training step reads a tensor's value on the host.

Why: on a GPU every such read (``.item()``, ``.tolist()``, ``float(t)``, ``if t:``, ``int(t)``)
waits for every kernel queued before it, so the CPU stops feeding the GPU; a step should read
device values once, on log steps. A GPU is not always at hand, so :func:`count_host_reads` counts
the Python-level reads on any device, CPU included, by wrapping those ``torch.Tensor`` methods
for the duration of a block. It cannot see synchronisations inside a kernel (CUDA ``bincount``
reads its input's maximum, ``nonzero`` and boolean indexing their output size): on CUDA,
:func:`count_cuda_syncs` counts those too with PyTorch's sync debug mode.
"""

from __future__ import annotations

import contextlib
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import torch

#: ``torch.Tensor`` methods that copy a value to the host.
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__")


class HostReads:
    """The count of host reads in a block, by ``(method, file:line)`` of the caller."""

    def __init__(self) -> None:
        self.sites: Counter[tuple[str, str]] = Counter()

    @property
    def total(self) -> int:
        return sum(self.sites.values())

    def describe(self) -> str:
        return ", ".join(f"{n}x {m} at {site}" for (m, site), n in self.sites.most_common()) or "none"


@contextlib.contextmanager
def count_host_reads() -> Iterator[HostReads]:
    """Count calls of :data:`HOST_READS` on tensors inside the block (this thread and any other
    that runs Python meanwhile), with their call sites. Not re-entrant."""
    reads = HostReads()
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def wrap(name: str, fn: Any) -> Any:
        def counted(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            frame = traceback.extract_stack(limit=2)[0]
            reads.sites[(name, f"{Path(frame.filename).name}:{frame.lineno}")] += 1
            return fn(self, *args, **kwargs)
        return counted

    for name, fn in originals.items():
        setattr(torch.Tensor, name, wrap(name, fn))
    try:
        yield reads
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)


@contextlib.contextmanager
def count_cuda_syncs() -> Iterator[list[str]]:
    """On CUDA: the synchronising calls inside the block, as the messages of PyTorch's sync debug
    mode (``torch.cuda.set_sync_debug_mode("warn")``); an empty list elsewhere."""
    found: list[str] = []
    if not torch.cuda.is_available():
        yield found
        return
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield found
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    found.extend(str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message).lower())

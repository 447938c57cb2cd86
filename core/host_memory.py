"""Host (CPU) memory levers: reusing freed heap inside a heavy call, and giving it back afterwards.

Why: on CPU, PyTorch takes every tensor from the C library's ``malloc``. glibc serves blocks above
its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and unmaps them on free, so each
full-rate activation of a convolutional codec (a 10 s x 4 batch holds 160 MB per 64-channel
tensor) is page-faulted in anew, layer after layer: encoding 40 s of audio with the paper-size
codec took 1.5 million minor page faults and 3.3 s of kernel time out of 12.7 s of CPU time
(benchmarks/results/host_memory.md). :func:`reuse_freed_memory` tells glibc to take large
blocks from its heap and keep freed ones there for the duration of a call, so the next layer
reuses the previous layer's pages; at the end the settings are put back and the free pages are
returned to the OS, so the process does not keep the call's peak.

The allocator is process-wide, so these are an application's decisions, never a library call's:
the commands that run codecs apply :func:`reuse_freed_memory_on` around each heavy call they make
(``tokenizer-bench encode`` / ``decode`` per batch or file, ``compare`` per reconstruction and
around its checks after the rows), the trainer applies :func:`reuse_freed_memory` per step and
:func:`release_host_memory` after each optimiser step when its settings ask for them, and a
``Tokenizer``'s own methods leave the allocator alone. Import them from this module only.

Only glibc (Linux) exposes these controls; elsewhere the helpers do nothing and say so in their
return value (``False``), which costs speed there, never correctness.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from typing import TYPE_CHECKING, Any, ContextManager, Iterator

if TYPE_CHECKING:
    import torch

# glibc <malloc.h> mallopt parameters and the defaults it starts with
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_MMAP_MAX = 65536
_KEEP_ALL = 2 ** 31 - 1  # mallopt takes an int: "never trim below 2 GiB of free heap top"
#: Heap growth during a block above which its exit trims the heap; also the free heap top glibc
#: may keep afterwards (its trim threshold). Smaller calls keep their pages for the next call, as
#: glibc does for blocks below its mmap threshold: trimming after every 1-second encode made the
#: next one fault its working set in again.
TRIM_AFTER_GROWTH = 256 * 1024 * 1024

#: Environment switch: ``TOKENIZER_BENCH_REUSE_FREED_MEMORY=0`` turns :func:`reuse_freed_memory`
#: into a no-op (e.g. to measure its effect, or in a process that tunes malloc itself).
ENV_SWITCH = "TOKENIZER_BENCH_REUSE_FREED_MEMORY"

_LIBC: Any = None
_lock = threading.Lock()
_depth = 0
_heap_at_entry: int | None = None


def _glibc() -> Any:
    """The C library if it is glibc (the only one whose mallopt/malloc_trim semantics we rely on)."""
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.gnu_get_libc_version  # noqa: B018 -- only glibc has it (musl, macOS do not)
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            if hasattr(libc, "mallinfo2"):  # glibc >= 2.33
                libc.mallinfo2.restype = _MallInfo2
            _LIBC = libc
        except (OSError, AttributeError):
            _LIBC = False
    return _LIBC


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def heap_bytes() -> int | None:
    """Bytes glibc holds in its heaps (all arenas; ``mallinfo2().arena``), None where unknown."""
    libc = _glibc()
    if not libc or not hasattr(libc, "mallinfo2"):
        return None
    return int(libc.mallinfo2().arena)


def release_host_memory() -> bool:
    """Return free heap pages to the OS (glibc ``malloc_trim(0)``); False where that is unavailable."""
    libc = _glibc()
    if not libc:
        return False
    libc.malloc_trim(0)
    return True


def reuse_freed_memory_enabled() -> bool:
    """Whether :func:`reuse_freed_memory` acts here (glibc, and not switched off by the environment)."""
    return bool(_glibc()) and os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Inside the block, large allocations come from the heap and freed ones stay there for reuse.

    Nested and concurrent uses are counted: the outermost exit restores mmap for large blocks
    (glibc's default count), sets the trim threshold to :data:`TRIM_AFTER_GROWTH` and, if the heap
    grew by more than that inside, returns its free pages to the OS (``malloc_trim``). Afterwards
    glibc's *dynamic* threshold adjustment stays off, as after any ``mallopt`` call: blocks above
    the mmap threshold glibc had reached are mapped, as before. Yields whether it acted.
    """
    global _depth, _heap_at_entry
    if not reuse_freed_memory_enabled():
        yield False
        return
    libc = _glibc()
    with _lock:
        _depth += 1
        if _depth == 1:
            _heap_at_entry = heap_bytes()
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_ALL)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, TRIM_AFTER_GROWTH)
                now = heap_bytes()
                if now is None or _heap_at_entry is None or now - _heap_at_entry > TRIM_AFTER_GROWTH:
                    libc.malloc_trim(0)


def reuse_freed_memory_on(device: "str | torch.device") -> ContextManager[bool]:
    """:func:`reuse_freed_memory` for work on ``device`` if it is the CPU; on an accelerator host
    memory is not the cost, and the block does nothing (yields False)."""
    import torch  # here, so that importing this module (the CLI does) does not load torch

    return reuse_freed_memory() if torch.device(device).type == "cpu" else contextlib.nullcontext(False)

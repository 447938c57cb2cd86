"""Helpers of the model-based metrics (not scanned for hooks: the name starts with ``_``).

Why a cache: several registered metrics read one computation (the four DNSMOS columns come from
one pass of its two ONNX models; ``f0_rmse`` and ``f0_corr`` from one pitch track per signal), and
the same reference is scored against every tokenizer's reconstruction. The harness calls each
metric separately with the same samples, so results are memoised by the *content* of the signal
(a SHA-1 of its bytes and the rate), never by object identity, and a small LRU bounds memory.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from tokenizer_bench.core.errors import MissingDependencyError


def signal_key(samples: Any, sample_rate: int, *extra: Any) -> tuple:
    """A hashable key for ``samples`` (content, dtype-independent: hashed as float64) at ``sample_rate``."""
    arr = np.ascontiguousarray(np.asarray(samples, dtype=np.float64).reshape(-1))
    return (hashlib.sha1(arr.tobytes()).hexdigest(), arr.size, int(sample_rate), *extra)


class ResultCache:
    """A bounded least-recently-used memo: ``get_or_compute(key, fn)``."""

    def __init__(self, size: int = 8) -> None:
        self.size = int(size)
        self._items: OrderedDict[tuple, Any] = OrderedDict()

    def get_or_compute(self, key: tuple, compute: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


def require_modules(metric: str, pip: str, *modules: str) -> None:
    """Raise :class:`MissingDependencyError` naming ``pip install ...`` when a module is missing."""
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    if missing:
        raise MissingDependencyError(
            f"metric {metric!r} needs the Python module(s) {', '.join(missing)}: pip install {pip}"
        )

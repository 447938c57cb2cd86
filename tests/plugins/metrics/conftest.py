"""Shared test signal of the metric tests."""

from __future__ import annotations

import numpy as np
import pytest


def _voiced(seconds: float = 3.0, fs: int = 16000) -> np.ndarray:
    """A speech-like test signal: a gliding harmonic tone with syllable-rate on/off envelope."""
    t = np.arange(int(seconds * fs)) / fs
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / fs
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    return 0.1 * x * np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 2


@pytest.fixture
def voiced() -> np.ndarray:
    """3 s of the speech-like signal at 16 kHz."""
    return _voiced()

"""Shared fixtures of the example plugin's training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """Four short noisy tones in the LibriSpeech layout (speaker/chapter/utterance.flac)."""
    root = tmp_path_factory.mktemp("corpus")
    folder = root / "1" / "1"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        t = np.arange(int(0.15 * SR)) / SR
        wav = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.02 * rng.standard_normal(t.shape)
        sf.write(folder / f"1-1-{i:04d}.flac", wav.astype(np.float32), SR, subtype="PCM_16")
    return root


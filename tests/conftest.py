"""Shared fixtures. Tests that need ../shared skip with a reason when it is absent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core import paths

# No test reaches the real hub: unless a test points huggingface_hub at its local emulation
# (tests/_hub_emulation.py), the endpoint is a closed port on 127.0.0.1, so a load that would
# download fails at once as "unreachable" instead of contacting huggingface.co. Set before any
# test imports huggingface_hub (it reads HF_ENDPOINT at import); subprocesses inherit it.
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")


# Tests use tiny models: one thread avoids oversubscription overhead that dominates them.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def reference_dir() -> Path:
    d = paths.reference_dir()
    if d is None:
        pytest.skip(f"official reference layouts absent (set {paths.REFERENCE_ENV} or {paths.SHARED_ENV})")
    return d


@pytest.fixture
def reference_manifest(reference_dir):
    def load(name: str) -> dict:
        p = reference_dir / name
        if not p.exists():
            pytest.skip(f"{p} absent")
        return json.loads(p.read_text())

    return load


@pytest.fixture
def librispeech_mini() -> Path:
    d = paths.librispeech_mini_dir()
    if d is None:
        pytest.skip(f"librispeech-mini absent (set {paths.DATA_ENV} or {paths.SHARED_ENV})")
    return d

"""UTMOS metric: our side of the published TorchScript contract (int16 PCM [1, N] at 16 kHz in,
one MOS out), checked with a small TorchScript stand-in whose output is computed by hand here;
a missing hub file names `hf download balacoon/utmos utmos.jit`; bad files/folders are clear errors.
The real balacoon/utmos checkpoint is not exercised (the hub is unreachable where this runs)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.plugins.metrics import utmos as mod
from tokenizer_bench.plugins.metrics.utmos import UTMOS

SR = 16000


class _StandIn(torch.nn.Module):
    """1 + 4 * mean|x| / 32767, refusing anything but int16 [B, N] (as the published export takes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.int16 or x.dim() != 2:
            raise RuntimeError("expected int16 [B, N]")
        return 1.0 + 4.0 * x.float().abs().mean(dim=1) / 32767.0


@pytest.fixture
def jit_folder(tmp_path):
    torch.jit.script(_StandIn()).save(str(tmp_path / "utmos.jit"))
    return tmp_path


def test_contract_int16_and_value(jit_folder):
    rng = np.random.default_rng(0)
    x = np.clip(0.3 * rng.standard_normal(SR), -1.2, 1.2)  # some samples beyond full scale
    pcm = np.clip(np.round(x * 32767), -32768, 32767)
    expected = 1 + 4 * np.abs(pcm).mean() / 32767
    metric = UTMOS(model=str(jit_folder))
    assert metric(reference=x, estimate=torch.from_numpy(x), sample_rate=SR) == pytest.approx(expected, rel=1e-6)
    assert UTMOS(model=str(jit_folder / "utmos.jit")).score(x) == pytest.approx(expected, rel=1e-6)
    clone = pickle.loads(pickle.dumps(metric))
    assert clone._net is None
    mod._CACHE.clear()
    assert clone.score(x) == pytest.approx(expected, rel=1e-6)


def test_missing_hub_file_names_the_download(monkeypatch, tmp_path):
    import huggingface_hub.constants as hc

    monkeypatch.setenv("TOKENIZER_BENCH_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(MissingDependencyError, match=r"`hf download balacoon/utmos utmos\.jit`"):
        UTMOS()


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ConfigError, match="has no 'utmos.jit'"):
        UTMOS(model=str(tmp_path))
    bad = tmp_path / "utmos.jit"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(ConfigError, match="not a loadable TorchScript file"):
        UTMOS(model=str(bad))
    with pytest.raises(ConfigError, match="neither an existing file/folder nor a hub id"):
        UTMOS(model="./missing/utmos.jit")


def test_bad_signal(jit_folder):
    with pytest.raises(ValueError, match="empty or non-finite"):
        UTMOS(model=str(jit_folder)).score(np.array([0.0, np.inf]))

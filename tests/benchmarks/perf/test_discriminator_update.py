"""discriminator_update.py: the ours side runs (tiny input, one step, profiled), the fused weight-norm
variant has the same maths, and, where .venv-peer exists, the driver's peer-vs-ours run and its
architecture check work end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def du(load_benchmark_script):
    return load_benchmark_script("perf/discriminator_update.py")


@pytest.mark.parametrize("variant", ["concat", "separate"])
def test_ours_side_measures_and_profiles_one_update(du, variant):
    res = du.ours_child("mstft", variant, batch=1, n=3200, steps=1, adam=True, top_k=5, profile=True)
    m = res["median"]
    assert m["cpu"] > 0 and m["d_forward_cpu"] > 0 and m["d_backward_cpu"] > 0 and m["d_optimizer_cpu"] > 0
    assert len(res["steps"]) == 1
    assert res["arch"]["mstft"]["params"] == 472_330  # MS-STFT(32), as the peer's
    assert len(res["arch"]["mstft"]["logits"]) == 5 and all(len(f) == 5 for f in res["arch"]["mstft"]["fmaps"])
    ops = res["profile"]["by_name"]
    assert 0 < len(ops) <= 5 and any("conv" in e["op"] for e in ops)


def test_fused_weight_norm_is_the_same_maths(du):
    par = du.weight_norm_parity()
    assert par["weight"] < 1e-5 * max(1.0, par["max_abs_weight"])
    assert par["grad_v"] < 1e-5 and par["grad_g"] < 1e-4


def test_driver_quick_peer_vs_ours(du, tmp_path):
    if not du.PEER_PYTHON.exists():
        pytest.skip(f"peer part skipped: {du.PEER_PYTHON} is absent (benchmarks/perf/peer_env.sh builds it)")
    cmd = [sys.executable, str(du.Path(du.__file__).resolve()), "--quick", "--cases", "mstft", "--variants",
           "concat", "fused_wn", "--no-profile", "--out-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "discriminator_update.json").read_text())
    assert report["arch_check"]["mstft"]["match"]
    assert set(report["results"]["mstft"]) == {"peer", "concat", "fused_wn"}
    assert "| mstft | peer |" in (tmp_path / "discriminator_update.md").read_text()

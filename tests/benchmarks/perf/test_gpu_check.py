"""The GPU check's dry run, so the script that waits for a GPU cannot rot on CPU-only CI.

The dry run (toy model, CPU) goes through every section the GPU run has; the assertions check
its figures against what they must be by construction (formulas and the toy's shapes), not
against the script's own arithmetic.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "perf" / "gpu_check.py"


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_dry_run_reaches_every_section(tmp_path):
    proc = _run("--dry-run", "--out", str(tmp_path), timeout=410)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    res = saved["results"]
    expected = ["environment", "train_fp32", "train_bf16", "train_bf16_compile", "codec_rtf", "teachers",
                "compare", "ddp"]
    assert list(res) == expected
    assert {k: v["status"] for k, v in res.items()} == dict.fromkeys(expected, "ok")
    assert saved["meta"]["dry_run"] is True
    assert "every section ran" in (tmp_path / "gpu_check.md").read_text()

    # training: audio-hours per GPU-hour = batch x 0.25 s of audio / step seconds (the dry run's crop)
    for mode in ("train_fp32", "train_bf16", "train_bf16_compile"):
        for row in (res[mode]["base"], res[mode]["largest"]["row"]):
            assert row["audio_hours_per_gpu_hour"] == pytest.approx(row["batch"] * 0.25 / row["step_s"], rel=0.01)
        # doubled once; batch 8 "does not fit" (the dry run simulates the OOM, so the recovery path runs)
        assert res[mode]["base"]["batch"] == 2 and res[mode]["largest"]["row"]["batch"] == 4
        assert res[mode]["largest"]["stopped"] == "out of memory at batch 8 (simulated: dry run)"
    # precision really switched: the decoder runs in bf16 under autocast, the losses receive fp32
    fp32 = res["train_fp32"]["dtypes"]
    assert {k: fp32[k] for k in ("decoder", "generator_output", "rvq_quantized")} == dict.fromkeys(
        ("decoder", "generator_output", "rvq_quantized"), "torch.float32")
    assert set(fp32["submodule_dtype_counts"]) == {"torch.float32"}  # every submodule, no autocast
    for mode in ("train_bf16", "train_bf16_compile"):
        dt = res[mode]["dtypes"]
        assert dt["decoder"] == "torch.bfloat16"
        assert dt["rvq_quantized"] == "torch.float32"  # RVQ stays fp32 (autocast off)
        assert dt["generator_output"] == "torch.float32"
        # the toy's two LSTMs (encoder, decoder) were probed; on the CPU autocast runs them in bf16
        # (only CUDA's rule would make them fp16, so only there they are kept in fp32)
        assert len(dt["lstm"]) == 2 and set(dt["lstm"].values()) == {"torch.bfloat16"}
        assert dt["submodule_dtype_counts"].get("torch.bfloat16", 0) > 0
    for mode in ("train_fp32", "train_bf16"):
        # one step's host reads: the scalars' one transfer + the CPU-only official dead-code replay
        # (3 quantizer layers in the toy), as tests/core/training/test_host_sync.py budgets them
        # (compiled, Dynamo's own code adds reads of its own around the graph breaks: recorded only)
        assert res[mode]["host_syncs"]["python_reads"] <= 1 + 3, res[mode]["host_syncs"]
    assert res["train_bf16_compile"]["host_syncs"]["python_reads"] >= 1
    assert res["train_bf16_compile"]["compile_backend"] == "aot_eager"  # recorded, not silent
    comp = res["train_bf16_compile"]["compile"]
    assert comp["frames_compiled"] >= 1 and comp["graphs"] >= 1 and comp["compile_s"] > 0
    # every break reason recorded is counted in graph_breaks; Dynamo counts breaks of resumed frames too,
    # without always giving them a reason of their own (13 breaks, 7 with reasons, measured here)
    assert comp["break_reasons"] and 0 < sum(comp["break_reasons"].values()) <= comp["graph_breaks"]

    # codec: toy hop 4*4 = 16 samples, 3 codebooks; 0.5 s = 8000 samples -> 500 frames
    for row in res["codec_rtf"]["rows"]:
        assert row["codes_shape"] == [row["batch"], 3, math.ceil(8000 / 16)]
        assert 0 < row["encode_rtf"] and 0 < row["decode_rtf"]

    # teachers: the toy HuBERT (12 wide) and BERT (16 wide) of plugins/teachers/_testing.py
    for dt in ("float32", "bfloat16"):
        assert res["teachers"][dt]["sm_dim"] == 12
        assert res["teachers"][dt]["device"] == "cpu"  # "auto" without a GPU
        assert res["teachers"][dt]["model_dtype"] == f"torch.{dt}"
        assert res["teachers"][dt]["lm_tokens"] >= res["teachers"]["words"] + 2  # every word + [CLS]/[SEP]

    # compare: 2 utterances x (ground truth + dm_codec)
    assert res["compare"]["records"] == 4
    assert res["compare"]["systems"] == ["Ground truth", "dm_codec"]

    # DDP on CPU: two gloo ranks, the generator DDP-wrapped, all-reduce of (rank + 1) sums to 1 + 2
    ranks = res["ddp"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    for r in ranks:
        assert r["world_size"] == 2 and r["backend"] == "gloo" and r["generator_wrapped"] == "DistributedDataParallel"
        assert r["all_reduce_sum"] == 3.0 and r["steps"] == 2
        assert r["resumed_from_step"] == 2 and r["steps_after_resume"] == 3  # --resume continued the run


def test_a_section_that_cannot_run_is_listed_and_fails_the_exit_status(tmp_path):
    proc = _run("--dry-run", "--out", str(tmp_path), "--time-limit", "1", "--sections", "codec_rtf", timeout=60)
    assert proc.returncode == 1
    res = json.loads((tmp_path / "gpu_check.json").read_text())["results"]
    assert res["codec_rtf"]["status"] == "not run"
    assert "global --time-limit" in res["codec_rtf"]["error"]
    assert "**codec_rtf: not run**" in (tmp_path / "gpu_check.md").read_text()


def test_dry_run_refuses_to_write_over_the_real_results():
    proc = _run("--dry-run", timeout=60)
    assert proc.returncode != 0
    assert "--out" in proc.stderr

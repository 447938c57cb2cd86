"""Every benchmark script whose results are cited runs, as a user runs it (``python
benchmarks/perf/X.py`` from the repository root, a fresh process), on a tiny setting: argument
parsing, model building and one iteration, in seconds. The figures checked are the ones fixed by
the setting (shapes, counts, parameter numbers known independently), never timings.

Covered elsewhere: ``discriminator_update.py`` (test_discriminator_update.py), ``gpu_check.py``
(test_gpu_check.py, its own ``--dry-run``), ``harness_speed.py`` (test_harness_speed.py).
``peer_speechtokenizer.py`` runs only in ``.venv-peer`` (built by ``peer_env.sh``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PERF = ROOT / "benchmarks" / "perf"
RESULTS = ROOT / "benchmarks" / "results"
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"


def run_script(name: str, *args: str, python: str = sys.executable, timeout: float = 1800) -> str:
    """``python benchmarks/perf/<name> ARGS`` from the repository root; its stdout."""
    proc = subprocess.run([python, str(Path("benchmarks") / "perf" / name), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_no_script_edits_the_import_path():
    for path in PERF.glob("*.py"):
        assert "sys.path" not in path.read_text(), path.name


def test_chunking(tmp_path):
    run_script("chunking.py", "--seconds", "2", "--chunk", "1", "--context", "0.2", "--quick-model",
               "--threads", "1", "--out-dir", str(tmp_path))
    rep = json.loads((tmp_path / "chunking.json").read_text())
    assert rep["frames"] == 2 * 50  # 2 s at 50 frames/s
    assert rep["windows"] == 2  # 2 s in 1 s windows
    assert len(rep["agreement_by_layer"]) == 8
    assert (tmp_path / "chunking.md").is_file()


def test_discriminators_losses(tmp_path):
    run_script("discriminators_losses.py", "--cases", "mstft", "waveform_l1", "--batch", "1", "--seconds", "0.2",
               "--repeats", "1", "--threads", "1", "--out-dir", str(tmp_path))
    rep = json.loads((tmp_path / "discriminators_losses.json").read_text())
    params = {r["case"]: r["parameters"] for r in rep["results"]}
    assert params == {"mstft": 472_330, "waveform_l1": 0}  # MS-STFT(32) as the official one; L1 has none
    assert rep["environment"]["load_average"] is not None


def test_kmeans_init(tmp_path):
    run_script("kmeans_init.py", "--batches", "1", "--repeats", "1", "--official-iters", "1", "--data", "gaussian",
               "--out-dir", str(tmp_path))
    rep = json.loads((tmp_path / "kmeans_init.json").read_text())
    assert [r["vectors"] for r in rep["results"]] == [150]  # one 3 s crop: 150 frames of 50 Hz
    assert rep["meta"]["codebooks"] == 8 and rep["meta"]["codebook_size"] == 1024


def test_train_step(tmp_path):
    run_script("train_step.py", "--configs", "demo.yaml", "--steps", "1", "--batch", "1", "--seconds", "0.5",
               "--out", str(tmp_path / "train_step"))
    rep = json.loads((tmp_path / "train_step.json").read_text())
    (row,) = rep["results"]
    assert row["config"] == "demo.yaml" and len(row["step_s_all"]) == 1 and row["batch"] == "1 x 0.5 s"
    assert (tmp_path / "train_step.md").is_file()


def test_ours_train_codec_train(tmp_path):
    run_script("ours_train_codec.py", "train", "--dry-run", "--steps", "1", "--batch", "1", "--seconds", "0.5",
               "--threads", "1", "--out", str(tmp_path / "train.json"))
    res = json.loads((tmp_path / "train.json").read_text())
    assert [s["warmup"] for s in res["steps"]] == [True, False]  # one warm-up, then --steps 1
    assert set(res["params"]) == {"generator", "distillation", "mpd", "msd", "mstft"}
    assert res["params"]["mstft"] < 472_330  # the toy's MS-STFT, not the paper's


def test_ours_train_codec_codec(tmp_path):
    run_script("ours_train_codec.py", "codec", "--dry-run", "--seconds", "0.5", "--min-repeats", "1",
               "--min-seconds", "0", "--max-repeats", "1", "--threads", "1", "--out", str(tmp_path / "codec.json"))
    res = json.loads((tmp_path / "codec.json").read_text())
    assert res["codes_shape"] == [1, 2, 25]  # 0.5 s at 50 Hz, the toy's 2 codebooks
    assert res["wav_shape"] == [1, 1, 8000]
    assert len(res["encode_s"]) == 1 and res["encode_rtf"] == pytest.approx(res["encode_s"][0] / 0.5)


def test_profile_train_step(tmp_path):
    run_script("profile_train_step.py", "--dry-run", "--threads", "1", "--top", "3", "--out-dir", str(tmp_path))
    assert (tmp_path / "profile_train_step.json").is_file() and (tmp_path / "profile_train_step.md").is_file()


@pytest.mark.slow
def test_host_memory(tmp_path):
    run_script("host_memory.py", "--dry-run", "--threads", "1", "--out-dir", str(tmp_path))
    rep = json.loads((tmp_path / "host_memory.json").read_text())
    (cell,) = rep["codec"]
    assert (cell["seconds"], cell["batch"]) == (1.0, 2)
    assert set(cell) >= {"off", "on"} and cell["on"]["encode"]["calls"] >= 2
    assert rep["train"]["off"]["steps"] == 1 and rep["train"]["on"]["steps"] == 1


def test_compare_peer_renders_the_cited_report_again(tmp_path):
    """The measuring children are the two ``ours_train_codec`` tests above and the peer's script; the
    driver's own part is the report, rendered from the cited raw data to the cited text."""
    shutil.copy(RESULTS / "peer_comparison.json", tmp_path)
    run_script("compare_peer.py", "--render-only", "--out-dir", str(tmp_path))
    assert (tmp_path / "peer_comparison.md").read_text() == (RESULTS / "peer_comparison.md").read_text()


@pytest.mark.skipif(not PEER_PYTHON.exists(), reason=f"{PEER_PYTHON} absent (bash benchmarks/perf/peer_env.sh)")
def test_peer_speechtokenizer_codec(tmp_path):
    run_script("peer_speechtokenizer.py", "codec", "--seconds", "0.5", "--min-repeats", "1", "--min-seconds", "0",
               "--max-repeats", "1", "--out", str(tmp_path / "codec.json"), python=str(PEER_PYTHON))
    assert json.loads((tmp_path / "codec.json").read_text())["wav_shape"][-1] == 8000

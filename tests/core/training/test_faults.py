"""Faults injected into training runs of the real command line (``core.cli.app.run``, or the
script in a subprocess for SIGKILL): a full disk while checkpointing, a NaN loss, a killed
process. Each stops the run with one clear ``error:`` line (or kills it), leaves the previous
checkpoint intact and readable, and ``--resume`` continues from it to the end."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tokenizer_bench.core.cli.app import run
from tokenizer_bench.core.config import validate
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import checkpoint as ckpt
from tokenizer_bench.plugins.losses.reconstruction import WaveformL1Loss
from tokenizer_bench.plugins.recipes import _testing as _tiny


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny run's config file (4 steps, a checkpoint every 2) with its corpus and teacher cache."""
    monkeypatch.delenv("TOKENIZER_BENCH_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    corpus = _tiny.make_corpus(tmp_path, n=4)
    data = _tiny.tiny_config(corpus, tmp_path, max_steps=4, checkpoint_every=2, keep_last=5, export=False)
    _tiny.write_fake_cache(validate(data, TrainConfig), corpus)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    return cfg, tmp_path / "run"


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def _steps(run_dir: Path) -> list[str]:
    return [p.name for p in ckpt.list_checkpoints(run_dir)]


def test_disk_full_while_checkpointing_stops_cleanly_and_resume_continues(tiny, monkeypatch, capsys):
    cfg, run_dir = tiny
    real = torch.save

    def full_disk_at_step_4(obj, f, *args, **kwargs):
        """The writer: a full disk fails the write of step 4's trainer.pt (OSError from the file's
        write, as torch.save into a Python file object reports it)."""
        name = Path(getattr(f, "name", str(f)))
        if name.name.startswith(f".{ckpt.TRAINER_FILE}.") and ".step_00000004." in name.parent.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk_at_step_4)
    code = run(["train", str(cfg), "-o", str(run_dir)])
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.out + out.err
    (line,) = _errors(out.err)
    assert re.fullmatch(rf"error: no space left on the device while writing {re.escape(str(run_dir))}/checkpoints/"
                        r"\.step_00000004\.\w+\.tmp/trainer\.pt; free some space and rerun", line), line
    assert _steps(run_dir) == ["step_00000002"]  # the previous checkpoint, intact
    assert not list((run_dir / "checkpoints").glob(".*"))  # no temporary folder left behind
    ckpt.read_checkpoint(run_dir / "checkpoints" / "step_00000002")

    monkeypatch.setattr(torch, "save", real)  # space freed
    assert run(["train", str(cfg), "-o", str(run_dir), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "step_00000002 (step 2," in out
    assert _steps(run_dir) == ["step_00000002", "step_00000004"]
    assert ckpt.read_checkpoint(run_dir / "checkpoints" / "step_00000004")["step"] == 4


def test_a_nan_loss_stops_the_run_with_one_line_and_resume_continues(tiny, monkeypatch, capsys):
    cfg, run_dir = tiny
    real = WaveformL1Loss.forward
    calls = {"n": 0}

    def nan_on_third_step(self, x, x_hat):
        calls["n"] += 1
        value = real(self, x, x_hat)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(WaveformL1Loss, "forward", nan_on_third_step)
    code = run(["train", str(cfg), "-o", str(run_dir)])
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.out + out.err
    (line,) = _errors(out.err)
    assert "training stopped: non-finite loss in step 3" in line and "loss/waveform=nan" in line
    assert "nothing saved (--resume continues from step_00000002" in line
    assert _steps(run_dir) == ["step_00000002"]
    before = ckpt.read_checkpoint(run_dir / "checkpoints" / "step_00000002")
    assert all(torch.isfinite(v).all() for v in before["generator"].values())

    monkeypatch.setattr(WaveformL1Loss, "forward", real)
    assert run(["train", str(cfg), "-o", str(run_dir), "--resume"]) == 0
    assert "step_00000002 (step 2," in capsys.readouterr().out
    assert _steps(run_dir) == ["step_00000002", "step_00000004"]


def test_sigkill_mid_run_leaves_readable_checkpoints_and_resume_finishes(tiny, capsys):
    cfg, run_dir = tiny
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZER_BENCH_DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "tokenizer_bench.core.cli.app", "train", str(cfg), "-o",
                             str(run_dir), "--set", "trainer.max_steps=100000", "--set", "trainer.max_epochs=100000",
                             "--set", "trainer.checkpoint_every=1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(_steps(run_dir)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the training did not reach 2 checkpoints"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done = _steps(run_dir)
    for name in done:  # whatever was renamed into place is complete
        ckpt.read_checkpoint(run_dir / "checkpoints" / name)
    last = int(done[-1].split("_")[1])
    code = run(["train", str(cfg), "-o", str(run_dir), "--resume", "--set", f"trainer.max_steps={last + 2}",
                "--set", "trainer.checkpoint_every=1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"{done[-1]} (step {last}," in out.out
    assert ckpt.read_checkpoint(run_dir / "checkpoints" / ckpt.checkpoint_name(last + 2))["step"] == last + 2
    assert not list((run_dir / "checkpoints").glob(".step_*.tmp"))  # a killed write's leftovers are pruned

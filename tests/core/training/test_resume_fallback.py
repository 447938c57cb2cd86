"""--resume past an unreadable newest checkpoint: it falls back to the newest readable one, says
which it skipped and why, and continues from that step with that checkpoint's exact state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tokenizer_bench.core.config import validate
from tokenizer_bench.core.errors import CheckpointError
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer
from tokenizer_bench.core.training import checkpoint as ckpt

from tokenizer_bench.plugins.recipes import _testing as _tiny


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a copy cut off half-way (full disk, crash mid-copy)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run with checkpoints at steps 2 and 4, and its config file."""
    root = tmp_path_factory.mktemp("resume")
    corpus = _tiny.make_corpus(root)
    data = _tiny.tiny_config(corpus, root, max_steps=4, checkpoint_every=2, keep_last=5)
    _tiny.write_fake_cache(validate(data, TrainConfig), corpus)
    Trainer(validate(data, TrainConfig)).fit()
    run = Path(data["trainer"]["output_dir"])
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step_00000002", "step_00000004"]
    cfg_file = root / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return data, run, cfg_file


def _copy_with_truncated_newest(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    _truncate(dest / "checkpoints" / "step_00000004" / "trainer.pt")
    return dest


def test_resume_falls_back_to_the_older_intact_checkpoint(trained, tmp_path, capsys):
    data, run, _ = trained
    copy = _copy_with_truncated_newest(run, tmp_path / "run")
    older = ckpt.load_trainer_state(copy / "checkpoints" / "step_00000002")
    trainer = Trainer(validate(data, TrainConfig), output_dir=copy, resume=True)
    said = capsys.readouterr().out
    assert "skipped step_00000004" in said and "cannot read checkpoint" in said
    assert trainer.step == 2 and trainer.resumed_from == copy / "checkpoints" / "step_00000002"
    gen = trainer.tokenizer.generator.state_dict()
    assert gen.keys() == older["generator"].keys()
    assert all(torch.equal(gen[k], v) for k, v in older["generator"].items())
    disc = trainer.recipe.modules()["discriminators"].state_dict()
    assert all(torch.equal(disc[k], v) for k, v in older["discriminators"].items())
    assert trainer.optimizers["g"].state_dict()["state"].keys() == older["optim_g"]["state"].keys()
    # the broken one is kept, renamed aside, so keep_last cannot prune the steps written next
    assert (copy / "checkpoints" / ".step_00000004.unreadable" / "trainer.pt").is_file()
    assert [p.name for p in ckpt.list_checkpoints(copy)] == ["step_00000002"]


def test_resume_through_the_cli_continues_from_the_older_step(trained, tmp_path):
    _, run, cfg_file = trained
    copy = _copy_with_truncated_newest(run, tmp_path / "run")
    env = {k: v for k, v in os.environ.items() if k not in ("TOKENIZER_BENCH_DEBUG", "OMP_NUM_THREADS")}
    res = subprocess.run([sys.executable, "-m", "tokenizer_bench.core.cli.app", "train", str(cfg_file),
                          "--output-dir", str(copy), "--resume", "--set", "trainer.max_steps=4"],
                         env=env, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "skipped step_00000004" in out and "resumed from" in out and "step_00000002 (step 2," in out
    assert "Traceback" not in out
    final = ckpt.load_trainer_state(copy / "checkpoints" / "step_00000004")  # re-written, readable
    assert final["step"] == 4


def test_no_readable_checkpoint_is_one_clear_error(trained, tmp_path):
    data, run, cfg_file = trained
    copy = _copy_with_truncated_newest(run, tmp_path / "run")
    (copy / "checkpoints" / "step_00000002" / "rng_rank0.pt").unlink()
    with pytest.raises(
        CheckpointError, match=r"no readable checkpoint.*step_00000004.*step_00000002.*rng_rank0\.pt: missing"
    ):
        Trainer(validate(data, TrainConfig), output_dir=copy, resume=True)
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZER_BENCH_DEBUG"}
    res = subprocess.run([sys.executable, "-m", "tokenizer_bench.core.cli.app", "train", str(cfg_file),
                          "--output-dir", str(copy), "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "no readable checkpoint" in res.stderr and "Traceback" not in res.stderr


def test_newest_readable_checkpoint_reasons(tmp_path):
    root = tmp_path / "checkpoints"
    full = {"generator": {}, "optim_g": {}, "scheduler_g": {}, "step": 1, "epoch": 0, "batch_in_epoch": 1}
    for step, state in ((1, full), (2, {"step": 2}), (3, None), (4, full)):
        d = root / ckpt.checkpoint_name(step)
        d.mkdir(parents=True)
        if state is not None:
            torch.save({**state, "step": step}, d / ckpt.TRAINER_FILE)
        if step == 1:
            torch.save({"python": None}, d / "rng_rank0.pt")
    (root / ckpt.checkpoint_name(4) / "rng_rank0.pt").write_bytes(b"\x00" * 10)  # corrupt RNG file
    path, state, skipped = ckpt.newest_readable_checkpoint(tmp_path)
    assert path == root / "step_00000001" and state["step"] == 1
    reasons = {p.name: why for p, why in skipped}
    assert list(reasons) == ["step_00000004", "step_00000003", "step_00000002"]  # newest first
    assert "rng_rank0.pt: cannot read RNG state" in reasons["step_00000004"]
    assert "no trainer.pt" in reasons["step_00000003"]
    assert "lacks generator, optim_g, scheduler_g, epoch, batch_in_epoch" in reasons["step_00000002"]
    assert ckpt.newest_readable_checkpoint(tmp_path / "empty") == (None, None, [])

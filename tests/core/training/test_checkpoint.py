"""core/training/checkpoint.py: names, listing, pruning, and the strict module load of a resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tokenizer_bench.core.errors import CheckpointError
from tokenizer_bench.core.training import checkpoint as ckpt


def _complete(root, name):
    (root / name).mkdir(parents=True)
    (root / name / ckpt.TRAINER_FILE).write_bytes(b"")


def test_checkpoint_names_sort_by_step_and_ignore_other_folders(tmp_path):
    root = tmp_path / ckpt.CHECKPOINT_DIR
    for step in (20, 3, 100):
        _complete(root, ckpt.checkpoint_name(step))
    _complete(root, "step_12")  # fewer than 8 digits: not a checkpoint name
    (root / ckpt.checkpoint_name(200)).mkdir()  # no trainer.pt: not complete
    _complete(root, ".step_00000007.tmp")  # an unfinished write
    assert ckpt.checkpoint_name(3) == "step_00000003"
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000003", "step_00000020", "step_00000100"]
    assert ckpt.latest_checkpoint(tmp_path).name == "step_00000100"


def test_prune_keeps_the_newest(tmp_path):
    root = tmp_path / ckpt.CHECKPOINT_DIR
    for step in (1, 2, 3, 4):
        _complete(root, ckpt.checkpoint_name(step))
    (root / ".step_00000005.tmp").mkdir()  # left by a run killed while writing
    ckpt.prune(tmp_path, keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000003", "step_00000004"]
    assert sorted(p.name for p in root.iterdir()) == ["step_00000003", "step_00000004"]


def test_load_module_state_names_the_checkpoint_keys_and_what_to_do(tmp_path):
    built = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    saved = {"0.weight": torch.zeros(3, 2), "0.bias": torch.zeros(3), "1.weight": torch.zeros(1, 4),
             "2.bias": torch.zeros(1)}
    with pytest.raises(CheckpointError) as err:
        ckpt.load_module_state(built, saved, "generator", tmp_path / "step_00000004")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'step_00000004'}: the generator weights do not match the model")
    assert "missing: 1.bias" in msg and "unexpected: 2.bias" in msg
    assert "1.weight (1, 4) (model (1, 3))" in msg
    assert "config.yaml" in msg
    # a matching state loads exactly
    good = {k: torch.full_like(v, 0.5) for k, v in built.state_dict().items()}
    ckpt.load_module_state(built, good, "generator", tmp_path)
    assert all(torch.equal(v, torch.full_like(v, 0.5)) for v in built.state_dict().values())

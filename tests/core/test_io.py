"""core/io.py: atomic writes, checkpoint reads and the one strict state-dict loader."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from tokenizer_bench.core.errors import CheckpointError
from tokenizer_bench.core.io import (
    atomic_path,
    load_safetensors_file,
    load_state_dict_strict,
    load_torch_file,
    read_json_object,
    save_safetensors_atomic,
    torch_save_atomic,
    write_json_atomic,
)


class _Two(nn.Module):
    """Keys ``a.weight`` [3, 2], ``a.bias`` [3], ``b.weight`` [1, 3], buffer ``scale`` [1]."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 3)
        self.b = nn.Linear(3, 1, bias=False)
        self.register_buffer("scale", torch.ones(1))


def _state() -> dict[str, torch.Tensor]:
    return {"a.weight": torch.arange(6.0).reshape(3, 2), "a.bias": torch.tensor([1.0, 2.0, 3.0]),
            "b.weight": torch.tensor([[0.5, -1.0, 2.0]]), "scale": torch.tensor([4.0])}


def test_strict_load_copies_every_tensor():
    m = _Two()
    load_state_dict_strict(m, _state(), source="x.pt")
    # a(x) = W x + b with W = [[0,1],[2,3],[4,5]], b = [1,2,3]; x = [1, 1] -> [2, 7, 12]; b(.) = 1 - 7 + 24 = 18
    assert torch.equal(m.a(torch.ones(2)), torch.tensor([2.0, 7.0, 12.0]))
    assert m.b(m.a(torch.ones(2))).item() == 18.0
    assert m.scale.item() == 4.0


def test_strict_load_names_file_and_every_kind_of_mismatch():
    state = _state()
    del state["a.bias"]
    state["c.weight"] = torch.zeros(1)
    state["b.weight"] = torch.zeros(3, 1)
    m = _Two()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(m, state, what="generator weights", source="/ckpt/gen.pt", hint="Use the old config.")
    msg = str(info.value)
    assert msg == ("/ckpt/gen.pt: the generator weights do not match the model (missing: a.bias; unexpected: c.weight; "
                   "shape mismatches: b.weight (3, 1) (model (1, 3))). Use the old config.")
    # nothing was loaded: a failed check leaves the module as it was
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_strict_load_lists_five_then_counts():
    m = nn.Sequential(*[nn.Linear(1, 1, bias=False) for _ in range(7)])
    listed = r"missing: 0\.weight, 1\.weight, 2\.weight, 3\.weight, 4\.weight \(\+2 more\)\)$"
    with pytest.raises(CheckpointError, match=listed):
        load_state_dict_strict(m, {}, source="empty.pt")


def test_strict_load_rejects_non_mapping_and_non_tensor_values():
    with pytest.raises(CheckpointError, match=r"list.pt: does not hold a state dict \(got list\)"):
        load_state_dict_strict(_Two(), [1, 2], source="list.pt")
    state = dict(_state(), scale=4.0)
    with pytest.raises(CheckpointError, match=r"not tensors: scale \(float\)"):
        load_state_dict_strict(_Two(), state, source="f.pt")


def test_strict_load_assign_fills_a_meta_module():
    with torch.device("meta"):
        m = _Two()
    load_state_dict_strict(m, _state(), source="x.pt", assign=True)
    assert not any(t.is_meta for t in m.state_dict().values())
    assert torch.equal(m.a.bias, torch.tensor([1.0, 2.0, 3.0]))

    class _WithTransient(_Two):  # a non-persistent buffer is not in the state dict, so it stays on meta
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("window", torch.ones(2), persistent=False)

    with torch.device("meta"):
        m = _WithTransient()
    with pytest.raises(CheckpointError, match="x.pt: the weights left tensors on the meta device: window"):
        load_state_dict_strict(m, _state(), source="x.pt", assign=True)


def test_torch_and_safetensors_reads(tmp_path):
    torch_save_atomic(_state(), tmp_path / "w.pt")
    assert torch.equal(load_torch_file(tmp_path / "w.pt")["a.bias"], torch.tensor([1.0, 2.0, 3.0]))
    save_safetensors_atomic(_state(), tmp_path / "w.safetensors")
    assert torch.equal(load_safetensors_file(tmp_path / "w.safetensors")["scale"], torch.tensor([4.0]))

    with pytest.raises(CheckpointError, match=r"nope.pt: PyTorch weights file not found"):
        load_torch_file(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match=r"nope.safetensors: safetensors weights file not found"):
        load_safetensors_file(tmp_path / "nope.safetensors")
    data = (tmp_path / "w.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut.pt: cannot read PyTorch weights"):
        load_torch_file(tmp_path / "cut.pt")
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:20])
    with pytest.raises(CheckpointError, match=r"cut.safetensors: cannot read safetensors weights"):
        load_safetensors_file(tmp_path / "cut.safetensors")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "r.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert sorted(os.listdir(target.parent)) == ["r.json"]


def test_read_json_object(tmp_path):
    write_json_atomic(tmp_path / "ok.json", {"a": [1, 2]})
    assert read_json_object(tmp_path / "ok.json") == {"a": [1, 2]}
    with pytest.raises(CheckpointError, match=r"none.json: model config not found$"):
        read_json_object(tmp_path / "none.json", "model config")
    (tmp_path / "bad.json").write_text("{\"a\": ")
    with pytest.raises(CheckpointError, match=r"bad.json: file is not valid JSON \(Expecting value"):
        read_json_object(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(CheckpointError, match=r"list.json: file must be a JSON object, got list$"):
        read_json_object(tmp_path / "list.json")

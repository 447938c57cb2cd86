"""The official generator layout's ``transform`` head (plugins/tokenizers/parity.py), on hand-made modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tokenizer_bench.plugins.tokenizers.parity import OfficialTransformHead, state_dict_with_head


class _Gen(OfficialTransformHead, nn.Module):
    def __init__(self, semantic_dimension):
        super().__init__()
        self.encoder = nn.Linear(2, 3)
        self.add_official_transform(3, semantic_dimension)
        self.quantizer = nn.Linear(3, 3)


def test_head_only_when_the_sizes_differ_and_in_the_official_position():
    assert list(_Gen(4).state_dict()) == ["encoder.weight", "encoder.bias", "transform.weight", "transform.bias",
                                         "quantizer.weight", "quantizer.bias"]
    assert not hasattr(_Gen(3), "transform") and not hasattr(_Gen(None), "transform")


def test_project_applies_the_head_over_time_frames():
    g = _Gen(4)
    with torch.no_grad():
        g.transform.weight.copy_(torch.arange(12.0).view(4, 3))
        g.transform.bias.copy_(torch.tensor([1.0, 0.0, 0.0, -1.0]))
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])  # [B=1, D=3, T=2]: frame 0 = e0, frame 1 = e1
    # W e0 + b = column 0 of W + b = [0, 3, 6, 9] + b; W e1 + b = [1, 4, 7, 10] + b
    torch.testing.assert_close(g.project(q), torch.tensor([[[1.0, 3.0, 6.0, 8.0], [2.0, 4.0, 7.0, 9.0]]]))
    torch.testing.assert_close(_Gen(None).project(q), q.transpose(1, 2))


def test_state_dict_with_head_puts_the_head_after_the_encoder():
    state = {"encoder.a": torch.zeros(1), "encoder.b": torch.zeros(1), "quantizer.c": torch.zeros(1),
             "decoder.d": torch.zeros(1)}
    head = nn.Linear(3, 2)
    out = state_dict_with_head(state, head)
    assert list(out) == ["encoder.a", "encoder.b", "transform.weight", "transform.bias", "quantizer.c", "decoder.d"]
    assert torch.equal(out["transform.weight"], head.weight) and out["transform.weight"] is not head.weight
    with pytest.raises(ValueError, match="already has a transform head"):
        state_dict_with_head(out, head)

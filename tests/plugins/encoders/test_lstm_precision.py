"""The SEANet LSTM under autocast: kept in fp32 on the devices where autocast would lower it.

CUDA's autocast runs cuDNN RNNs in fp16 whatever the autocast dtype; no GPU is here, so the rule
is exercised on the CPU by listing the CPU among ``FP32_LSTM_DEVICES`` (the CPU's own autocast
runs the LSTM in bf16, which the second test shows is what happens without the rule).
"""

from __future__ import annotations

import pytest
import torch

from tokenizer_bench.plugins.encoders import _modules
from tokenizer_bench.plugins.encoders._modules import SLSTM


def _run(m: SLSTM, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.dtype]]:
    seen: dict[str, torch.dtype] = {}

    def pre(_mod, args):
        seen["lstm_input"] = args[0].dtype

    def post(_mod, _args, out):
        seen["lstm_output"] = out[0].dtype

    h1, h2 = m.lstm.register_forward_pre_hook(pre), m.lstm.register_forward_hook(post)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
    finally:
        h1.remove()
        h2.remove()
    return y, seen


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_runs_in_fp32_under_autocast_on_a_listed_device(monkeypatch, bidirectional):
    monkeypatch.setattr(_modules, "FP32_LSTM_DEVICES", {"cpu"})
    torch.manual_seed(0)
    m = SLSTM(6, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(2, 6, 9).to(torch.bfloat16)  # what the previous convolution hands on under bf16 autocast
    y, seen = _run(m, x)
    assert seen == {"lstm_input": torch.float32, "lstm_output": torch.float32}
    assert y.dtype == torch.float32
    # the same numbers as the fp32 module on the (bf16-rounded) input without autocast
    ref = m(x.float())
    torch.testing.assert_close(y, ref, rtol=0, atol=0)
    # and gradients reach the bf16 input and the fp32 weights
    x.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        m(x).sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.bfloat16
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in m.parameters())


def test_without_the_rule_cpu_autocast_lowers_the_lstm(monkeypatch):
    monkeypatch.setattr(_modules, "FP32_LSTM_DEVICES", set())
    m = SLSTM(6, num_layers=1)
    _, seen = _run(m, torch.randn(1, 6, 5).to(torch.bfloat16))
    assert seen["lstm_output"] == torch.bfloat16

"""Memory lever of the trainer: activation checkpointing by submodule name."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.training.memory import checkpoint_submodules


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.tanh(self.conv(x))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Counting()
        self.head = nn.Conv1d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def grads(net: Net, x: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad()
    net(x).pow(2).sum().backward()
    return [p.grad.clone() for p in net.parameters()]


def test_checkpointed_part_is_recomputed_with_the_same_gradients():
    torch.manual_seed(0)
    plain, wrapped = Net(), Net()
    wrapped.load_state_dict(plain.state_dict())
    keys = set(wrapped.state_dict())
    assert checkpoint_submodules(wrapped, ["encoder"]) == ["encoder"]
    x = torch.randn(2, 1, 32)
    expected = grads(plain, x)
    got = grads(wrapped, x)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e)
    assert plain.encoder.calls == 1 and wrapped.encoder.calls == 2  # forward, then again in backward
    assert set(wrapped.state_dict()) == keys  # checkpoints and exports keep their names
    with torch.no_grad():  # no graph: no recomputation either
        wrapped(x)
    assert wrapped.encoder.calls == 3


def test_unknown_part_is_a_config_error_listing_the_parts():
    with pytest.raises(ConfigError, match=r"no submodule 'decoder' \(its parts: encoder, head\)"):
        checkpoint_submodules(Net(), ["decoder"])


def test_trainer_with_checkpointed_encoder_decoder_takes_the_same_step(tmp_path):
    """The tiny DM-Codec: same gradients with the encoder and decoder recomputed in backward."""
    from tokenizer_bench.plugins.recipes import _testing as _tiny

    results = [_tiny.step_gradients(_tiny.tiny_trainer(tmp_path / str(i), activation_checkpointing=parts))[0]
               for i, parts in enumerate(([], ["encoder", "decoder"]))]
    plain, ckpt = results
    assert len(plain) == len(ckpt) == 2
    for a, b in zip(plain, ckpt):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)


def test_compile_turns_checkpointing_off_with_a_warning(tmp_path, capsys):
    """A checkpointed part holding an LSTM would run uncompiled: compile keeps its activations instead."""
    from tokenizer_bench.plugins.recipes import _testing as _tiny

    trainer = _tiny.tiny_trainer(tmp_path, compile=True, activation_checkpointing=["encoder", "decoder"])
    out = capsys.readouterr().out
    assert "WARNING: trainer.compile is on, so trainer.activation_checkpointing (encoder, decoder) is turned off" in out
    gen = trainer.tokenizer.generator
    assert not getattr(gen.encoder, "_tb_checkpointed", False) and not getattr(gen.decoder, "_tb_checkpointed", False)

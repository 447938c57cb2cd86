"""The ConvNeXt block shared by the frame-rate encoder (``mel_encoder``) and decoder (``istft_decoder``).

Vocos (Siuzdak, 2023) runs its whole decoder at the token frame rate with these blocks and leaves
the waveform to an inverse STFT. On a CPU that matters: a SEANet stack spends most of its time in
narrow convolutions at 16 kHz, while a frame-rate stack does wide matrix products at 50-100 Hz,
so the same compute buys a much larger network (docs/training.md, "Learning per CPU-minute").

``activation`` picks the block's nonlinearity: ``gelu`` (ConvNeXt / Vocos) or ``snake`` (DAC's
``Snake1d``, ``x + sin²(αx)/α`` with a learned ``α`` per hidden channel, the periodic inductive bias
BigVGAN and DAC use for waveforms; the one implementation is :class:`._modules.Snake1d`).
"""

from __future__ import annotations

import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError

from tokenizer_bench.plugins.encoders._modules import Snake1d

ACTIVATIONS = ("gelu", "snake")


class ChannelsLastSnake(nn.Module):
    """:class:`Snake1d` on ``[B, T, C]`` (the block's linear layers work channels last)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.snake = Snake1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.snake(x.transpose(1, 2)).transpose(1, 2)


def make_activation(name: str, channels: int) -> nn.Module:
    """``gelu`` -> ``nn.GELU()``; ``snake`` -> a per-channel Snake over ``channels``."""
    if name == "gelu":
        return nn.GELU()
    if name == "snake":
        return ChannelsLastSnake(channels)
    raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k7) -> LayerNorm -> Linear(dim, hidden) -> GELU/Snake -> Linear(hidden, dim), scaled, + input.

    ``layer_scale`` starts every block near the identity (its residual branch is multiplied by a
    learned per-channel factor initialised to ``layer_scale``), which keeps a deep stack trainable
    at a high learning rate from the first step.
    """

    def __init__(self, dim: int, hidden: int, kernel_size: int = 7, layer_scale: float = 0.1,
                 activation: str = "gelu") -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvNeXtBlock: kernel_size must be odd (centred padding), got {kernel_size}")
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.act = make_activation(activation, hidden)
        self.pwconv2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, dim, T]
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """``num_layers`` blocks followed by a LayerNorm (channels first).

    Unlike Vocos there is no LayerNorm *before* the first block: measured on one batch of real speech
    (log-magnitude regression, 80 steps at lr 1e-3), the stack with it learned only the average
    spectrum (L1 1.48, the per-bin mean's 1.51) while the stack without it reached 0.81.
    """

    def __init__(self, dim: int, hidden: int, num_layers: int, kernel_size: int = 7, activation: str = "gelu") -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"ConvNeXtStack: num_layers must be >= 1, got {num_layers}")
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(dim, hidden, kernel_size, layer_scale=1.0 / num_layers, activation=activation)
            for _ in range(num_layers))
        self.norm_out = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, dim, T]
        for block in self.blocks:
            x = block(x)
        return self.norm_out(x.transpose(1, 2)).transpose(1, 2)

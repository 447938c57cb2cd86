"""Convolutional building blocks of FACodec: residual units, encoder/decoder blocks, predictors.

Module nesting mirrors the official code so that state-dict keys match (``block.N`` Sequentials,
``model.N``, ``heads.N``).
"""

from __future__ import annotations

import torch
from torch import nn

from tokenizer_bench.plugins.layers import WNConv1d, WNConvTranspose1d

from tokenizer_bench.plugins.tokenizers._facodec.activations import snake


class ResidualUnit(nn.Module):
    """``x + conv1x1(act(conv7_dilated(act(x))))``; zero padding keeps the length."""

    def __init__(self, dim: int, dilation: int = 1) -> None:
        super().__init__()
        pad = ((7 - 1) * dilation) // 2
        self.block = nn.Sequential(
            snake(dim),
            WNConv1d(dim, dim, kernel_size=7, dilation=dilation, padding=pad),
            snake(dim),
            WNConv1d(dim, dim, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Module):
    """Three residual units (dilations 1, 3, 9) at ``dim/2`` channels, then a strided conv to ``dim``."""

    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        half = dim // 2
        self.block = nn.Sequential(
            ResidualUnit(half, dilation=1),
            ResidualUnit(half, dilation=3),
            ResidualUnit(half, dilation=9),
            snake(half),
            WNConv1d(half, dim, kernel_size=2 * stride, stride=stride, padding=stride // 2 + stride % 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DecoderBlock(nn.Module):
    """Activation, transposed conv (x ``stride`` in time), three residual units (dilations 1, 3, 9)."""

    def __init__(self, input_dim: int, output_dim: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            snake(input_dim),
            WNConvTranspose1d(
                input_dim,
                output_dim,
                kernel_size=2 * stride,
                stride=stride,
                padding=stride // 2 + stride % 2,
                output_padding=stride % 2,
            ),
            ResidualUnit(output_dim, dilation=1),
            ResidualUnit(output_dim, dilation=3),
            ResidualUnit(output_dim, dilation=9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _GradientReversalFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return -ctx.alpha * grad, None


class GradientReversal(nn.Module):
    """Identity forward, gradient multiplied by ``-alpha`` backward (stateless: no keys)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _GradientReversalFn.apply(x, self.alpha)


class ConvPredictor(nn.Module):
    """Official ``CNNLSTM`` (it has no LSTM): 3 residual units (dilations 1, 2, 3), activation,
    then ``heads`` linear maps per frame, or on the time-mean with ``global_pred``.

    Used only by FACodec training (f0/phone/speaker supervision and gradient-reversal
    adversaries); present so the published decoder state dict loads strictly.
    """

    def __init__(self, dim: int, out_dim: int, heads: int, global_pred: bool = False) -> None:
        super().__init__()
        self.global_pred = global_pred
        self.model = nn.Sequential(
            ResidualUnit(dim, dilation=1),
            ResidualUnit(dim, dilation=2),
            ResidualUnit(dim, dilation=3),
            snake(dim),
        )
        self.heads = nn.ModuleList([nn.Linear(dim, out_dim) for _ in range(heads)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x [B, C, T]`` -> per head ``[B, T, out]`` (or ``[B, out]`` when ``global_pred``)."""
        h = self.model(x).transpose(1, 2)
        if self.global_pred:
            h = h.mean(dim=1)
        return [head(h) for head in self.heads]

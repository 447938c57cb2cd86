"""Finite scalar quantization (FSQ): a projection to a few bounded scalars rounded to a grid.

One "codebook" whose size is the product of the per-dimension level counts; no codebook to learn,
no commitment loss, no dead codes. Follows the ``Quantizer`` protocol of tokenizer-bench.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tokenizer_bench.core.interfaces import QuantizerOutput


class FSQ(nn.Module):
    """Finite scalar quantizer: bounded scalars rounded to a fixed grid (one implicit codebook)."""

    def __init__(self, dimension: int, levels: list[int] | tuple[int, ...] = (8, 5, 5, 5)) -> None:
        super().__init__()
        if not levels or any(int(level) < 2 for level in levels):
            raise ValueError(f"levels must be integers >= 2, got {levels}")
        self.dimension = dimension
        self.levels = [int(level) for level in levels]
        self.num_codebooks = 1
        self.codebook_size = math.prod(self.levels)
        self.project_in = nn.Conv1d(dimension, len(self.levels), 1)
        self.project_out = nn.Conv1d(len(self.levels), dimension, 1)
        self.register_buffer("_levels", torch.tensor(self.levels, dtype=torch.float32), persistent=False)
        basis = torch.cumprod(torch.tensor([1] + self.levels[:-1], dtype=torch.int64), 0)
        self.register_buffer("_basis", basis, persistent=False)

    def _bound(self, z: torch.Tensor) -> torch.Tensor:
        # Odd level counts map to {-(L-1)/2..(L-1)/2}; even ones are shifted by half a step.
        half = (self._levels - 1) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift[:, None]) * half[:, None] - offset[:, None]

    def _grid(self, z: torch.Tensor) -> torch.Tensor:
        bounded = self._bound(z)
        return bounded + (torch.round(bounded) - bounded).detach()

    def _to_codes(self, grid: torch.Tensor) -> torch.Tensor:
        half = torch.div(self._levels, 2, rounding_mode="floor")
        digits = (grid.round() + half[:, None]).long()  # [B, d, T] in 0..L-1
        return (digits * self._basis[:, None]).sum(1, keepdim=True)  # [B, 1, T]

    def _from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        half = torch.div(self._levels, 2, rounding_mode="floor")
        digits = (codes[:, :1] // self._basis[:, None]) % self._levels.long()[:, None]
        return digits.float() - half[:, None]

    def forward(self, x: torch.Tensor, n_q: int | None = None) -> QuantizerOutput:
        grid = self._grid(self.project_in(x))
        quantized = self.project_out(grid)
        codes = self._to_codes(grid)
        used = torch.unique(codes).numel() / self.codebook_size
        return QuantizerOutput(
            quantized=quantized,
            codes=codes,
            commit_loss=x.new_zeros(()),
            layer_outputs=[quantized],
            metrics={"fsq/usage": float(used)},
        )

    @torch.no_grad()
    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        return self._to_codes(self._grid(self.project_in(x)))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.project_out(self._from_codes(codes))

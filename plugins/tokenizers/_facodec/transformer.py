"""The small pre-LN transformer FACodec uses as timbre encoder (and, in V2, as prosody encoder).

4 layers, hidden 256, 4 heads, FFN = Conv1d(hidden -> filter, k5) -> ReLU -> Linear(filter ->
hidden), dropout 0.1, final LayerNorm. Keys: ``position_emb.pe [5000, 1, hidden]`` (a state-dict
buffer), ``layers.i.{ln_1, ln_2, self_attn, ffn.ffn_1, ffn.ffn_2}``, ``last_ln``.

Positional encoding: the official module is written for ``[T, B, d]`` input but is fed
``[B, T, d]``, so it adds ``pe[:B]``: batch item ``b`` gets the constant vector ``pe[b]`` on every
frame, and the output of an utterance depends on where it sits in the batch. ``pe_mode`` says
what to do:

* ``"first"`` (default): add ``pe[0]`` to every item. This is exactly the official computation
  for batch size 1 -- how the published numbers were produced (utterances encoded one at a time)
  -- and it makes batched encoding give the same result as one-at-a-time encoding.
* ``"batch_index"``: the official code verbatim (item ``b`` gets ``pe[b]``); for parity checks.
* ``"time"``: the textbook encoding, ``pe[t]`` on frame ``t``. The released weights were not
  trained with it; offered for training new models only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

PE_MODES = ("first", "batch_index", "time")


def sinusoid_table(max_len: int, d_model: int) -> torch.Tensor:
    """``[max_len, 1, d_model]``: sin on even channels, cos on odd, wavelengths up to 10000*2pi.

    Computed on the CPU, then moved to the current default device (cheap meta-device builds)."""
    return _sinusoid_cpu(int(max_len), int(d_model)).to(torch.get_default_device(), copy=True)


@lru_cache(maxsize=8)
def _sinusoid_cpu(max_len: int, d_model: int) -> torch.Tensor:
    position = torch.arange(max_len, device="cpu").unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, device="cpu") * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, 1, d_model, device="cpu")
    pe[:, 0, 0::2] = torch.sin(position * div)
    pe[:, 0, 1::2] = torch.cos(position * div)
    return pe


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float, max_len: int = 5000, pe_mode: str = "first") -> None:
        super().__init__()
        self.dropout = dropout
        self.pe_mode = pe_mode
        self.register_buffer("pe", sinusoid_table(max_len, d_model))

    @property
    def pe_mode(self) -> str:
        return self._pe_mode

    @pe_mode.setter
    def pe_mode(self, mode: str) -> None:
        if mode not in PE_MODES:
            raise ValueError(f"pe_mode must be one of {', '.join(PE_MODES)}; got {mode!r}")
        self._pe_mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, T, d]``."""
        batch, frames = x.shape[0], x.shape[1]
        if self.pe_mode == "first":
            x = x + self.pe[0].unsqueeze(0)  # [1, 1, d]
        elif self.pe_mode == "batch_index":
            if batch > self.pe.shape[0]:
                raise ValueError(f"batch {batch} exceeds the positional table ({self.pe.shape[0]})")
            x = x + self.pe[:batch]  # [B, 1, d]
        else:
            if frames > self.pe.shape[0]:
                raise ValueError(f"{frames} frames exceed the positional table ({self.pe.shape[0]})")
            x = x + self.pe[:frames, 0].unsqueeze(0)  # [1, T, d]
        return F.dropout(x, self.dropout, training=self.training)


class ConvFFN(nn.Module):
    def __init__(self, hidden: int, filter_size: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.ffn_1 = nn.Conv1d(hidden, filter_size, kernel_size, padding=kernel_size // 2)
        self.ffn_2 = nn.Linear(filter_size, hidden)
        nn.init.normal_(self.ffn_1.weight, 0.0, 0.02)
        nn.init.normal_(self.ffn_2.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.ffn_1(x.transpose(1, 2)).transpose(1, 2))
        x = F.dropout(x, self.dropout, training=self.training)
        return self.ffn_2(x)


class TransformerEncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, filter_size: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        # Registration order = state-dict order of the official layer.
        self.ln_1 = nn.LayerNorm(hidden)
        self.ln_2 = nn.LayerNorm(hidden)
        self.self_attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.ffn = ConvFFN(hidden, filter_size, kernel_size, dropout)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, T, d]``; ``key_padding_mask [B, T]`` is 1 on valid frames (official convention)."""
        h = self.ln_1(x)
        pad = None if key_padding_mask is None else ~key_padding_mask.bool()
        h, _ = self.self_attn(h, h, h, key_padding_mask=pad, need_weights=False)
        x = x + F.dropout(h, self.dropout, training=self.training)
        return x + self.ffn(self.ln_2(x))


class TransformerEncoder(nn.Module):
    def __init__(self, layers: int = 4, hidden: int = 256, heads: int = 4, filter_size: int = 1024,
                 kernel_size: int = 5, dropout: float = 0.1, pe_mode: str = "first") -> None:
        super().__init__()
        self.position_emb = PositionalEncoding(hidden, dropout, pe_mode=pe_mode)
        self.layers = nn.ModuleList(
            [TransformerEncoderLayer(hidden, heads, filter_size, kernel_size, dropout) for _ in range(layers)]
        )
        self.last_ln = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, T, d]`` -> ``[B, T, d]``."""
        x = self.position_emb(x)
        for layer in self.layers:
            x = layer(x, key_padding_mask)
        return self.last_ln(x)

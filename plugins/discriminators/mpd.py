"""Multi-period discriminator (HiFi-GAN MPD), as DM-Codec trains it.

Each sub-discriminator folds the waveform into ``[B, 1, N/p, p]`` for one period p, so its
(k×1) 2-D convolutions see samples p apart: periodic structure (pitch harmonics) that a plain
1-D discriminator blurs. Key names, shapes and the forward computation match the official
``codec.discriminators.MultiPeriodDiscriminator`` (see the reference manifest); the hard-coded
widths are constructor options with the official values as defaults, so tiny copies can be tested.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tokenizer_bench.core.audio import check_waveform
from tokenizer_bench.core.nn_init import check_init, initialise_
from tokenizer_bench.plugins.layers import Norm, conv2d

from tokenizer_bench.plugins.discriminators._blocks import conv_stack, run_each

OFFICIAL_PERIODS: tuple[int, ...] = (2, 3, 5, 7, 11)
OFFICIAL_CHANNELS: tuple[int, ...] = (32, 128, 512, 1024, 1024)


class PeriodDiscriminator(nn.Module):
    """One period: strided (k×1) convs (the last one unstrided), then a (3×1) conv to one channel."""

    def __init__(
        self,
        period: int,
        channels: Sequence[int] = OFFICIAL_CHANNELS,
        kernel_size: int = 5,
        stride: int = 3,
        negative_slope: float = 0.1,
        norm: Norm = "weight_norm",
    ) -> None:
        super().__init__()
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        if len(channels) < 1:
            raise ValueError("channels must list at least one layer width")
        self.period = int(period)
        self.negative_slope = float(negative_slope)
        pad = (kernel_size - 1) // 2
        layers = []
        in_ch = 1
        for i, out_ch in enumerate(channels):
            s = 1 if i == len(channels) - 1 else stride
            layers.append(conv2d(norm, in_ch, out_ch, (kernel_size, 1), (s, 1), padding=(pad, 0)))
            in_ch = out_ch
        self.convs = nn.ModuleList(layers)
        self.conv_post = conv2d(norm, in_ch, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = wav.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            if n_pad >= t:
                raise ValueError(
                    f"period {self.period} needs at least {n_pad + 1} samples for reflect padding, got {t}"
                )
            wav = F.pad(wav, (0, n_pad), mode="reflect")
            t += n_pad
        x = wav.view(b, c, t // self.period, self.period)
        return conv_stack(x, self.convs, self.conv_post, self.negative_slope)


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`PeriodDiscriminator` per period (official: 2, 3, 5, 7, 11; 41.1 M parameters).

    ``forward(wav[B,1,N])`` returns ``(logits, fmaps)``: one flattened logit tensor ``[B, *]`` and
    one list of feature maps (every conv's activation plus the final conv output) per period.
    """

    def __init__(
        self,
        periods: Sequence[int] = OFFICIAL_PERIODS,
        channels: Sequence[int] = OFFICIAL_CHANNELS,
        kernel_size: int = 5,
        stride: int = 3,
        negative_slope: float = 0.1,
        init: str = "variance_preserving",
    ) -> None:
        super().__init__()
        check_init(init, type(self).__name__)
        if not periods:
            raise ValueError("periods must not be empty")
        self.discriminators = nn.ModuleList(
            PeriodDiscriminator(p, channels, kernel_size, stride, negative_slope) for p in periods
        )
        initialise_(self, init)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        check_waveform(wav, type(self).__name__, finite=False)
        return run_each(self.discriminators, wav)


def register_discriminators(register) -> None:
    register("mpd", MultiPeriodDiscriminator)

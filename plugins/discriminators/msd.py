"""Multi-scale discriminator (MelGAN/HiFi-GAN MSD), as DM-Codec trains it.

Three 1-D discriminators see the waveform at full rate, ×2 and ×4 average-pooled. The first uses
spectral norm (keys ``weight_orig`` + buffers ``weight_u``/``weight_v``), the others weight norm
(``weight_g``/``weight_v``), exactly like the official ``MultiScaleDiscriminator``. In training
mode spectral norm runs one power iteration per forward and updates its buffers; in eval it reuses
the stored vectors. The official widths are constructor defaults so tiny copies can be built.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tokenizer_bench.core.audio import check_waveform
from tokenizer_bench.core.nn_init import check_init, initialise_
from tokenizer_bench.plugins.layers import Norm, conv1d

from tokenizer_bench.plugins.discriminators._blocks import conv_stack

OFFICIAL_CHANNELS: tuple[int, ...] = (128, 128, 256, 512, 1024, 1024, 1024)
OFFICIAL_KERNEL_SIZES: tuple[int, ...] = (15, 41, 41, 41, 41, 41, 5)
OFFICIAL_STRIDES: tuple[int, ...] = (1, 2, 2, 4, 4, 1, 1)
OFFICIAL_GROUPS: tuple[int, ...] = (1, 4, 16, 16, 16, 16, 1)


class ScaleDiscriminator(nn.Module):
    """Grouped strided 1-D convs with LeakyReLU, then a k=3 conv to one channel."""

    def __init__(
        self,
        channels: Sequence[int] = OFFICIAL_CHANNELS,
        kernel_sizes: Sequence[int] = OFFICIAL_KERNEL_SIZES,
        strides: Sequence[int] = OFFICIAL_STRIDES,
        groups: Sequence[int] = OFFICIAL_GROUPS,
        negative_slope: float = 0.1,
        norm: Norm = "weight_norm",
    ) -> None:
        super().__init__()
        n = len(channels)
        if not n or not (len(kernel_sizes) == len(strides) == len(groups) == n):
            raise ValueError(
                "channels, kernel_sizes, strides and groups must have the same non-zero length, got "
                f"{len(channels)}, {len(kernel_sizes)}, {len(strides)}, {len(groups)}"
            )
        self.negative_slope = float(negative_slope)
        layers = []
        in_ch = 1
        for out_ch, k, s, g in zip(channels, kernel_sizes, strides, groups):
            if in_ch % g or out_ch % g:
                raise ValueError(f"groups={g} must divide both {in_ch} input and {out_ch} output channels")
            layers.append(conv1d(norm, in_ch, out_ch, k, s, groups=g, padding=(k - 1) // 2))
            in_ch = out_ch
        self.convs = nn.ModuleList(layers)
        self.conv_post = conv1d(norm, in_ch, 1, 3, 1, padding=1)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = wav
        return conv_stack(x, self.convs, self.conv_post, self.negative_slope)


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` scale discriminators; scale i > 0 sees the input average-pooled i times (4, 2, pad 2).

    ``forward(wav[B,1,N])`` returns ``(logits, fmaps)``: one flattened logit tensor per scale and
    one list of feature maps per scale. Official defaults: 3 scales, 29.6 M parameters.
    """

    def __init__(
        self,
        num_scales: int = 3,
        channels: Sequence[int] = OFFICIAL_CHANNELS,
        kernel_sizes: Sequence[int] = OFFICIAL_KERNEL_SIZES,
        strides: Sequence[int] = OFFICIAL_STRIDES,
        groups: Sequence[int] = OFFICIAL_GROUPS,
        negative_slope: float = 0.1,
        spectral_norm_first: bool = True,
        init: str = "variance_preserving",
    ) -> None:
        super().__init__()
        check_init(init, type(self).__name__)
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}")
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(
                channels, kernel_sizes, strides, groups, negative_slope,
                norm="spectral_norm" if (i == 0 and spectral_norm_first) else "weight_norm",
            )
            for i in range(num_scales)
        )
        # Stateless; the official model keeps them in a ModuleList too (no state_dict entries).
        self.meanpools = nn.ModuleList(nn.AvgPool1d(4, 2, padding=2) for _ in range(num_scales - 1))
        initialise_(self, init)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        check_waveform(wav, type(self).__name__, finite=False)
        logits, fmaps = [], []
        x = wav
        for i, d in enumerate(self.discriminators):
            if i > 0:
                x = self.meanpools[i - 1](x)
            y, f = d(x)
            logits.append(y)
            fmaps.append(f)
        return logits, fmaps


def register_discriminators(register) -> None:
    register("msd", MultiScaleDiscriminator)

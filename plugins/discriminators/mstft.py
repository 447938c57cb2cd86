"""Multi-scale STFT discriminator (EnCodec's MS-STFT), as DM-Codec trains it.

Each sub-discriminator looks at the complex STFT (real and imaginary parts as two channels,
laid out ``[B, 2, frames, freq]``) at one resolution and applies 2-D convs strided along
frequency and dilated along time. Key names and shapes match the official
``MultiScaleSTFTDiscriminator(32)``: the Hann window is a state_dict buffer
(``spec_transform.window``), ``convs.0`` has no weight norm, every later conv has
(old-style) weight norm. The STFT reproduces torchaudio's ``Spectrogram(normalized=True,
center=False, power=None)``: no padding, output divided by the window's L2 norm.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tokenizer_bench.core.audio import check_waveform
from tokenizer_bench.core.nn_init import check_init, initialise_
from tokenizer_bench.plugins.layers import NormConv2d

from tokenizer_bench.plugins.discriminators._blocks import run_each

OFFICIAL_N_FFTS: tuple[int, ...] = (1024, 2048, 512, 256, 128)


class ComplexSpectrogram(nn.Module):
    """STFT without centering, Hann window kept as a buffer, optionally divided by ‖window‖₂.

    Returns a complex tensor ``[B, C, n_fft//2+1, frames]`` for input ``[B, C, N]``.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, normalized: bool = True) -> None:
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"win_length {win_length} exceeds n_fft {n_fft}")
        self.n_fft, self.hop_length, self.win_length = int(n_fft), int(hop_length), int(win_length)
        self.normalized = bool(normalized)
        self.register_buffer("window", torch.hann_window(self.win_length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead, n = x.shape[:-1], x.shape[-1]
        if n < self.n_fft:
            raise ValueError(f"STFT with n_fft={self.n_fft} (center=False) needs >= {self.n_fft} samples, got {n}")
        spec = torch.stft(
            x.reshape(-1, n), self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
            window=self.window, center=False, normalized=False, onesided=True, return_complex=True,
        )
        if self.normalized:
            spec = spec / self.window.pow(2).sum().sqrt()
        return spec.reshape(*lead, *spec.shape[-2:])


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    return ((kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2)


class STFTDiscriminator(nn.Module):
    """One resolution: conv (no norm) → convs strided (1,2) with time dilations → conv → conv_post.

    Feature maps are the activations of every conv in ``convs`` (not ``conv_post``), as officially.
    """

    def __init__(
        self,
        filters: int = 32,
        in_channels: int = 1,
        out_channels: int = 1,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        max_filters: int = 1024,
        filters_scale: int = 1,
        kernel_size: tuple[int, int] = (3, 9),
        dilations: Sequence[int] = (1, 2, 4),
        stride: tuple[int, int] = (1, 2),
        normalized: bool = True,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        kernel_size = (int(kernel_size[0]), int(kernel_size[1]))
        stride = (int(stride[0]), int(stride[1]))
        self.negative_slope = float(negative_slope)
        self.spec_transform = ComplexSpectrogram(n_fft, hop_length, win_length, normalized)
        convs = [NormConv2d(2 * in_channels, filters, kernel_size, padding=_same_padding(kernel_size), norm="none")]
        in_chs = min(filters_scale * filters, max_filters)
        for i, d in enumerate(dilations):
            out_chs = min(filters_scale ** (i + 1) * filters, max_filters)
            convs.append(NormConv2d(
                in_chs, out_chs, kernel_size, stride=stride, dilation=(d, 1),
                padding=_same_padding(kernel_size, (d, 1)), norm="weight_norm",
            ))
            in_chs = out_chs
        out_chs = min(filters_scale ** (len(dilations) + 1) * filters, max_filters)
        square = (kernel_size[0], kernel_size[0])
        convs.append(NormConv2d(in_chs, out_chs, square, padding=_same_padding(square), norm="weight_norm"))
        self.convs = nn.ModuleList(convs)
        self.conv_post = NormConv2d(out_chs, out_channels, square, padding=_same_padding(square), norm="weight_norm")

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        z = self.spec_transform(wav)  # [B, C, F, T] complex
        z = torch.cat([z.real, z.imag], dim=1).transpose(-1, -2)  # [B, 2C, T, F]
        fmap = []
        for conv in self.convs:
            z = F.leaky_relu(conv(z), self.negative_slope)
            fmap.append(z)
        return self.conv_post(z), fmap


class MultiScaleSTFTDiscriminator(nn.Module):
    """One :class:`STFTDiscriminator` per resolution (official n_fft 1024, 2048, 512, 256, 128; hop n_fft/4).

    ``forward(wav[B,1,N])`` returns ``(logits, fmaps)``: logits ``[B, 1, frames, freq']`` per
    resolution (not flattened, as officially) and one list of 5 feature maps per resolution.
    ``hop_lengths``/``win_lengths`` default to ``n_fft // 4`` and ``n_fft``.
    """

    def __init__(
        self,
        filters: int = 32,
        n_ffts: Sequence[int] = OFFICIAL_N_FFTS,
        hop_lengths: Sequence[int] | None = None,
        win_lengths: Sequence[int] | None = None,
        out_channels: int = 1,
        max_filters: int = 1024,
        filters_scale: int = 1,
        kernel_size: Sequence[int] = (3, 9),
        dilations: Sequence[int] = (1, 2, 4),
        stride: Sequence[int] = (1, 2),
        normalized: bool = True,
        negative_slope: float = 0.2,
        init: str = "variance_preserving",
    ) -> None:
        super().__init__()
        check_init(init, type(self).__name__)
        n_ffts = [int(n) for n in n_ffts]
        hop_lengths = [n // 4 for n in n_ffts] if hop_lengths is None else [int(h) for h in hop_lengths]
        win_lengths = list(n_ffts) if win_lengths is None else [int(w) for w in win_lengths]
        if not n_ffts or not (len(n_ffts) == len(hop_lengths) == len(win_lengths)):
            raise ValueError(
                f"n_ffts, hop_lengths and win_lengths must have the same non-zero length, got "
                f"{len(n_ffts)}, {len(hop_lengths)}, {len(win_lengths)}"
            )
        if len(kernel_size) != 2 or len(stride) != 2:
            raise ValueError(f"kernel_size and stride must be pairs, got {kernel_size} and {stride}")
        self.discriminators = nn.ModuleList(
            STFTDiscriminator(
                filters, 1, out_channels, n, h, w, max_filters, filters_scale,
                (kernel_size[0], kernel_size[1]), dilations, (stride[0], stride[1]), normalized, negative_slope,
            )
            for n, h, w in zip(n_ffts, hop_lengths, win_lengths)
        )
        initialise_(self, init)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        check_waveform(wav, type(self).__name__, finite=False)
        return run_each(self.discriminators, wav)


def register_discriminators(register) -> None:
    register("mstft", MultiScaleSTFTDiscriminator)

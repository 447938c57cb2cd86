"""SnakeBeta and the anti-aliased activation wrapper FACodec uses everywhere.

Every activation in FACodec is ``Activation1d(SnakeBeta(C, alpha_logscale=True))``: the signal is
upsampled 2x with a Kaiser-windowed sinc filter, passed through SnakeBeta, and low-pass filtered
and decimated 2x again (the BigVGAN "alias-free" recipe). The two 12-tap filters are
*persistent* buffers (``upsample.filter``, ``downsample.lowpass.filter``) because the published
state dicts contain them; both filters pad with ``replicate``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn


class SnakeBeta(nn.Module):
    """``y = x + 1/(beta + 1e-9) * sin^2(alpha * x)`` per channel.

    With ``logscale=True`` (FACodec's setting) the parameters hold ``log alpha`` and ``log beta``
    (initialised to 0, i.e. alpha = beta = 1) and are exponentiated in the forward pass.
    """

    eps = 1e-9

    def __init__(self, channels: int, logscale: bool = True) -> None:
        super().__init__()
        self.logscale = logscale
        init = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(init.clone())
        self.beta = nn.Parameter(init.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]
        beta = self.beta[None, :, None]
        if self.logscale:
            alpha, beta = alpha.exp(), beta.exp()
        return x + (1.0 / (beta + self.eps)) * torch.sin(x * alpha).pow(2)


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Low-pass FIR ``[1, 1, kernel_size]``: Kaiser window x sinc, normalised to unit DC gain.

    ``cutoff`` and ``half_width`` are fractions of the sampling rate. The Kaiser beta follows the
    usual design rule from the attenuation ``A`` of a filter with transition width ``4*half_width``.
    Computed once on the CPU (float32, like the official buffers), then placed on the current
    default device (so building under ``torch.device("meta")`` stays cheap).
    """
    window = _kaiser_sinc_cpu(float(cutoff), float(half_width), int(kernel_size))
    return window.to(torch.get_default_device(), copy=True)


@lru_cache(maxsize=None)
def _kaiser_sinc_cpu(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    even = kernel_size % 2 == 0
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21.0) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta, device="cpu")
    t = (torch.arange(-half, half, device="cpu") + 0.5) if even else (torch.arange(kernel_size, device="cpu") - half)
    if cutoff == 0:
        taps = torch.zeros_like(t, dtype=window.dtype)
    else:
        taps = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
        taps = taps / taps.sum()
    return taps.view(1, 1, kernel_size)


class LowPassFilter1d(nn.Module):
    """Depthwise FIR low-pass with replicate padding and optional decimation (``stride``)."""

    def __init__(self, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1,
                 kernel_size: int = 12) -> None:
        super().__init__()
        if not 0.0 <= cutoff <= 0.5:
            raise ValueError(f"cutoff must lie in [0, 0.5], got {cutoff}")
        self.kernel_size = kernel_size
        even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(even)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels)


class UpSample1d(nn.Module):
    """Zero-stuffing upsampler followed by the Kaiser-sinc interpolation filter (output ``ratio*T``)."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.pad = self.kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (self.kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (self.kernel_size - ratio + 1) // 2
        self.register_buffer(
            "filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, self.kernel_size)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(
            x, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels
        )
        return x[..., self.crop_left : x.shape[-1] - self.crop_right]


class DownSample1d(nn.Module):
    """Anti-aliasing low-pass then decimation by ``ratio`` (output ``T/ratio``)."""

    def __init__(self, ratio: int = 2, kernel_size: int | None = None) -> None:
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, stride=ratio, kernel_size=self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class Activation1d(nn.Module):
    """Upsample 2x -> activation -> low-pass and downsample 2x (length preserved)."""

    def __init__(self, activation: nn.Module, up_ratio: int = 2, down_ratio: int = 2,
                 up_kernel_size: int = 12, down_kernel_size: int = 12) -> None:
        super().__init__()
        self.act = activation
        self.upsample = UpSample1d(up_ratio, up_kernel_size)
        self.downsample = DownSample1d(down_ratio, down_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


def snake(channels: int) -> Activation1d:
    """FACodec's activation: anti-aliased log-scale SnakeBeta."""
    return Activation1d(SnakeBeta(channels, logscale=True))

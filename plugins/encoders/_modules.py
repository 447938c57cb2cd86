"""Building blocks of the SEANet encoder/decoder (EnCodec/SpeechTokenizer layout).

Everything here reproduces the official SpeechTokenizer 1.0.1 / DM-Codec generator modules so
that their checkpoints load with a strict key match:

* convolutions are wrapped twice (``SConv1d.conv`` -> ``NormConv1d.conv`` -> the convolution), so
  the state-dict keys read ``...conv.conv.bias/weight_g/weight_v``;
* weight normalisation is the *old* style (``weight_g`` / ``weight_v``) of
  :mod:`tokenizer_bench.plugins.layers`;
* non-causal "same" padding with reflect mode, extra right padding so the last window is full,
  and transposed convolutions trimmed by ``kernel - stride`` (right gets ``total // 2``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.plugins.layers import NormConv1d, NormConvTranspose1d

PAD_MODES = ("reflect", "constant", "replicate", "circular")


# --------------------------------------------------------------------------- padding


def extra_padding_for_conv1d(length: int, kernel_size: int, stride: int, padding_total: int) -> int:
    """Right padding that makes the last window of a strided convolution full."""
    n_frames = (length - kernel_size + padding_total) / stride + 1
    ideal_length = (math.ceil(n_frames) - 1) * stride + (kernel_size - padding_total)
    return ideal_length - length


def pad1d(x: torch.Tensor, left: int, right: int, mode: str = "reflect") -> torch.Tensor:
    """``F.pad`` that also reflect-pads inputs shorter than the padding.

    Reflection needs ``length > pad``; for shorter inputs zeros are appended first, the
    reflection is done, and the appended zeros are cut off again (the official behaviour).
    """
    if left < 0 or right < 0:
        raise ValueError(f"negative padding ({left}, {right})")
    if left == 0 and right == 0:
        return x  # F.pad would still copy: 1-sample kernels are half of SEANet's convolutions
    if mode != "reflect":
        return F.pad(x, (left, right), mode=mode)
    length = x.shape[-1]
    max_pad = max(left, right)
    extra = 0
    if length <= max_pad:
        extra = max_pad - length + 1
        x = F.pad(x, (0, extra))
    padded = F.pad(x, (left, right), mode="reflect")
    return padded[..., : padded.shape[-1] - extra]


class SConv1d(nn.Module):
    """Conv1d with built-in "same" padding (non-causal: right gets ``total // 2``) and norm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1, groups: int = 1, bias: bool = True, causal: bool = False,
                 norm: str = "weight_norm", pad_mode: str = "reflect") -> None:
        super().__init__()
        if pad_mode not in PAD_MODES:
            raise ConfigError(f"pad_mode must be one of {', '.join(PAD_MODES)}; got {pad_mode!r}")
        self.conv = NormConv1d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, groups=groups,
                               bias=bias, norm=norm)
        self.causal = causal
        self.pad_mode = pad_mode
        self._kernel, self._stride, self._dilation = kernel_size, stride, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        effective_kernel = (self._kernel - 1) * self._dilation + 1
        padding_total = effective_kernel - self._stride
        extra = extra_padding_for_conv1d(x.shape[-1], effective_kernel, self._stride, padding_total)
        if self.causal:
            x = pad1d(x, padding_total, extra, self.pad_mode)
        else:
            right = padding_total // 2
            x = pad1d(x, padding_total - right, right + extra, self.pad_mode)
        return self.conv(x)


class SConvTranspose1d(nn.Module):
    """ConvTranspose1d that trims ``kernel - stride`` samples (non-causal: right gets ``total // 2``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 causal: bool = False, norm: str = "weight_norm", trim_right_ratio: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= trim_right_ratio <= 1.0:
            raise ConfigError(f"trim_right_ratio must be in [0, 1]; got {trim_right_ratio}")
        self.convtr = NormConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride, norm=norm)
        self.causal = causal
        self.trim_right_ratio = trim_right_ratio
        self._kernel, self._stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convtr(x)
        padding_total = self._kernel - self._stride
        if self.causal:
            right = math.ceil(padding_total * self.trim_right_ratio)
        else:
            right = padding_total // 2
        left = padding_total - right
        return y[..., left: y.shape[-1] - right]


# --------------------------------------------------------------------------- LSTM, activations


#: Devices on which the LSTM runs in fp32 with autocast off when autocast is on. CUDA's autocast
#: rule for cuDNN RNNs (``aten/src/ATen/cudnn/AutocastRNN.cpp``) casts input and weights to fp16
#: whatever the autocast dtype, so under ``mixed_precision: bf16`` (no loss scaler) the recurrence
#: would run in fp16 and could overflow. The CPU's autocast runs it in bf16, which is what was asked.
FP32_LSTM_DEVICES: set[str] = {"cuda"}


class SLSTM(nn.Module):
    """Time-major LSTM on a ``[B, C, T]`` tensor with a skip connection.

    For a bidirectional LSTM the output has ``2C`` channels and the skip adds the input tiled
    along channels (``[x, x]``), as the official code does. Under autocast on a device of
    :data:`FP32_LSTM_DEVICES` the LSTM itself runs in fp32 (its output is fp32; the next
    convolution casts it back to the autocast dtype).
    """

    def __init__(self, dimension: int, num_layers: int = 2, skip: bool = True, bidirectional: bool = False) -> None:
        super().__init__()
        self.bidirectional = bidirectional
        self.skip = skip
        self.lstm = nn.LSTM(dimension, dimension, num_layers, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(2, 0, 1)
        device = x.device.type
        if device in FP32_LSTM_DEVICES and torch.is_autocast_enabled(device):
            with torch.autocast(device_type=device, enabled=False):
                y, _ = self.lstm(x.float())
        else:
            y, _ = self.lstm(x)
        if self.skip:
            if torch.is_grad_enabled():  # the LSTM's backward needs its output as it is
                y = y + (x.repeat(1, 1, 2) if self.bidirectional else x)
            elif self.bidirectional:  # [x, x] added in place: no tiled copy of the input
                y.unflatten(-1, (2, -1)).add_(x.unsqueeze(-2))
            else:
                y.add_(x)
        return y.permute(1, 2, 0)


class Snake1d(nn.Module):
    """Snake activation ``x + sin²(αx)/α`` with a learned per-channel ``alpha [1, C, 1]``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(shape[0], shape[1], -1)
        x = x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)
        return x.reshape(shape)


def make_activation(name: str, params: dict | None, channels: int) -> nn.Module:
    """``"Snake"`` -> :class:`Snake1d` (needs the channel count), otherwise ``torch.nn.<name>(**params)``.

    ``params=None`` means the official default: ``{"alpha": 1.0}`` for ELU, nothing otherwise.
    """
    if name == "Snake":
        return Snake1d(channels)
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigError(f"activation {name!r} is neither 'Snake' nor a torch.nn module name (e.g. 'ELU')")
    if params is None:
        params = {"alpha": 1.0} if name == "ELU" else {}
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"activation_params {params!r} do not fit torch.nn.{name}: {exc}") from exc


class SEANetResnetBlock(nn.Module):
    """act -> conv(k, dilation) to ``dim/compress`` -> act -> conv(1) back to ``dim``, plus a shortcut.

    The shortcut is a 1x1 convolution unless ``true_skip`` (then identity, no keys).
    """

    def __init__(self, dim: int, kernel_sizes: tuple[int, ...] = (3, 1), dilations: tuple[int, ...] = (1, 1),
                 activation: str = "ELU", activation_params: dict | None = None, norm: str = "weight_norm",
                 causal: bool = False, pad_mode: str = "reflect", compress: int = 2, true_skip: bool = False) -> None:
        super().__init__()
        if len(kernel_sizes) != len(dilations):
            raise ConfigError("SEANet residual block: kernel_sizes and dilations differ in length")
        hidden = dim // compress
        layers: list[nn.Module] = []
        for i, (k, d) in enumerate(zip(kernel_sizes, dilations)):
            in_chs = dim if i == 0 else hidden
            out_chs = dim if i == len(kernel_sizes) - 1 else hidden
            layers += [
                make_activation(activation, activation_params, in_chs),
                SConv1d(in_chs, out_chs, k, dilation=d, norm=norm, causal=causal, pad_mode=pad_mode),
            ]
        self.block = nn.Sequential(*layers)
        self.shortcut: nn.Module = (
            nn.Identity() if true_skip
            else SConv1d(dim, dim, 1, norm=norm, causal=causal, pad_mode=pad_mode)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.shortcut(x) + self.block(x)
        y = forward_sequential(self.block, x)  # fresh storage: the last layer is a convolution
        y += self.shortcut(x)  # same sum as above (addition commutes exactly)
        return y


#: Layers whose output never shares storage with their input, so an activation may overwrite it.
_FRESH_OUTPUT = (SConv1d, SConvTranspose1d, SLSTM, SEANetResnetBlock)


def forward_sequential(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``seq(x)``; without autograd, ELUs that follow a layer with fresh output work in place.

    Why: at inference every full-rate activation is a tensor of hundreds of MB; overwriting the
    previous layer's output instead of allocating another saves that allocation and its page
    faults (and lowers the peak). With autograd on, ``seq(x)`` as usual (ELU's backward needs
    its input or output intact).
    """
    if torch.is_grad_enabled():
        return seq(x)
    previous: nn.Module | None = None
    for layer in seq:
        if type(layer) is nn.ELU and isinstance(previous, _FRESH_OUTPUT):
            x = F.elu(x, layer.alpha, inplace=True)
        else:
            x = layer(x)
        previous = layer
    return x

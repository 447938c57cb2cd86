"""Normalised convolution and linear layers with the state-dict keys of published checkpoints.

Shared by the encoders, the discriminators and FACodec, and public so a third-party plugin can
build a module that loads the same checkpoints.

Weight norm is the *old* ``torch.nn.utils.weight_norm(module, dim=0)``: the published
SpeechTokenizer, DM-Codec, FACodec and HiFi-GAN/EnCodec discriminator checkpoints were saved with
it, so their keys are ``bias, weight_g, weight_v`` (in that order) and there is no ``weight``.
That API is deprecated (a FutureWarning on every layer) and its replacement,
``parametrizations.weight_norm``, names the tensors differently; the layers here hold ``weight_g``
and ``weight_v`` as plain parameters and compute ``w = g · v / ‖v‖`` (norm over every dimension
but 0; for a transposed convolution dim 0 is the *input*-channel axis, hence ``weight_g
[in, 1, 1]``). Checkpoints of the official code load with ``strict=True`` and ours load there.
The weight comes from ``torch._weight_norm``, the fused kernel (and fused backward) behind both
torch weight-norm APIs: written out as mul / div / norm it cost 13 % of an MPD update on CPU
(benchmarks/results/discriminator_update.md).

Initialisation draws exactly what the plain torch layer draws (``kaiming_uniform(a=√5)`` for
``v``, then the bias), so a seeded model is the same model as with torch's layers, and sets
``g = ‖v‖`` (the initial weight equals ``v``), as the old API did. Built on the meta device (a
shape-only model a checkpoint will fill) they draw nothing.

Spectral norm is ``torch.nn.utils.spectral_norm`` (keys ``bias, weight_orig`` plus buffers
``weight_u``, ``weight_v``; one power iteration per training forward, none in eval).

:class:`NormConv1d`, :class:`NormConv2d` and :class:`NormConvTranspose1d` hold their layer under
``.conv`` / ``.convtr`` as EnCodec's modules do, which puts that level into the checkpoint keys
(``...conv.conv.weight_g``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.nn_init import norm_except_dim0

Norm = Literal["weight_norm", "spectral_norm", "none"]
NORMS: tuple[str, ...] = ("weight_norm", "spectral_norm", "none")

_IntOr2 = int | tuple[int, int]


class WeightNormed(nn.Module):
    """A layer whose weight is ``weight_g · weight_v / ‖weight_v‖``; subclasses define the op.

    ``weight`` is that effective weight. In eval mode without gradients (tokenizer encode /
    decode) it is computed once per parameter version and kept: recomputing it on every call cost
    ~0.04 s per encode of the paper's DM-Codec model (benchmarks/results/peer_comparison.md).
    Any in-place change of ``g`` or ``v`` (an optimiser step, ``load_state_dict``), a move to
    another device or dtype, or ``train()`` makes it compute afresh.
    """

    bias: nn.Parameter | None
    weight_g: nn.Parameter
    weight_v: nn.Parameter

    def _init_params(self, v_shape: tuple[int, ...], bias_size: int | None) -> None:
        # Registration order fixes the state-dict order of the old API: bias, weight_g, weight_v.
        if bias_size is not None:
            self.bias = nn.Parameter(torch.empty(bias_size))
        else:
            self.register_parameter("bias", None)
        self.weight_g = nn.Parameter(torch.empty((v_shape[0],) + (1,) * (len(v_shape) - 1)))
        self.weight_v = nn.Parameter(torch.empty(v_shape))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default init of the plain layer (same draws, same order), then ``g = ‖v‖``."""
        if self.weight_v.is_meta:  # shape-only build (checkpoint loading): nothing to draw
            return
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))
        with torch.no_grad():
            self.weight_g.copy_(norm_except_dim0(self.weight_v))
        if self.bias is not None:
            # torch's fan-in of the plain layer's weight: size(1) x receptive field (for a
            # transposed convolution that is out/groups x kernel, as torch computes it)
            fan_in = self.weight_v.shape[1] * math.prod(self.weight_v.shape[2:])
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def weight(self) -> torch.Tensor:
        """The effective (normalised) weight."""
        if self.training or torch.is_grad_enabled():
            return torch._weight_norm(self.weight_v, self.weight_g, 0)
        v, g = self.weight_v, self.weight_g
        key = (v._version, g._version, v.data_ptr(), g.data_ptr(), v.dtype, v.device)
        cached = self.__dict__.get("_eval_weight")
        if cached is None or cached[0] != key:
            cached = (key, torch._weight_norm(v, g, 0))
            self.__dict__["_eval_weight"] = cached
        return cached[1]

    def train(self, mode: bool = True) -> "WeightNormed":
        self.__dict__.pop("_eval_weight", None)  # training changes the weights; free the copy
        return super().train(mode)


def _pair(x: _IntOr2) -> tuple[int, int]:
    return (int(x), int(x)) if isinstance(x, int) else (int(x[0]), int(x[1]))


class WNConv1d(WeightNormed):
    """``nn.Conv1d`` (zero padding) with old-style weight norm: keys ``bias, weight_g, weight_v``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = (int(kernel_size),), (int(stride),)
        self.padding, self.dilation = (int(padding),), (int(dilation),)
        self._init_params((out_channels, in_channels // groups, int(kernel_size)), out_channels if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}")


class WNConv2d(WeightNormed):
    """``nn.Conv2d`` (zero padding) with old-style weight norm: keys ``bias, weight_g, weight_v``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntOr2, stride: _IntOr2 = 1,
                 padding: _IntOr2 = 0, dilation: _IntOr2 = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self._init_params((out_channels, in_channels // groups, *self.kernel_size), out_channels if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}")


class WNConvTranspose1d(WeightNormed):
    """``nn.ConvTranspose1d`` with old-style weight norm (weight ``[in, out, k]``, ``weight_g [in, 1, 1]``)."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, 1
        self.kernel_size, self.stride = (int(kernel_size),), (int(stride),)
        self.padding, self.output_padding = (int(padding),), (int(output_padding),)
        self._init_params((in_channels, out_channels, int(kernel_size)), out_channels if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}")


class WNLinear(WeightNormed):
    """``nn.Linear`` with old-style weight norm (``weight_g [out, 1]``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_params((out_features, in_features), out_features if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def check_norm(norm: str) -> str:
    """``norm`` when it is one of :data:`NORMS`; a ConfigError listing them otherwise."""
    if norm not in NORMS:
        raise ConfigError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
    return norm


def _normed(norm: str, weight_normed: type[nn.Module], plain: type[nn.Module], *args, **kwargs) -> nn.Module:
    check_norm(norm)
    if norm == "weight_norm":
        return weight_normed(*args, **kwargs)
    if norm == "spectral_norm":
        return nn.utils.spectral_norm(plain(*args, **kwargs))
    return plain(*args, **kwargs)


def conv1d(norm: Norm, *args, **kwargs) -> nn.Module:
    """A Conv1d (``nn.Conv1d``'s arguments) with ``weight_norm``, ``spectral_norm`` or no (``none``) norm."""
    return _normed(norm, WNConv1d, nn.Conv1d, *args, **kwargs)


def conv2d(norm: Norm, *args, **kwargs) -> nn.Module:
    """A Conv2d (``nn.Conv2d``'s arguments) with ``weight_norm``, ``spectral_norm`` or no (``none``) norm."""
    return _normed(norm, WNConv2d, nn.Conv2d, *args, **kwargs)


def conv_transpose1d(norm: Norm, *args, **kwargs) -> nn.Module:
    """A ConvTranspose1d with ``weight_norm``, ``spectral_norm`` or no (``none``) norm."""
    return _normed(norm, WNConvTranspose1d, nn.ConvTranspose1d, *args, **kwargs)


class NormConv1d(nn.Module):
    """:func:`conv1d` held as ``.conv`` (the middle level of EnCodec-style key paths)."""

    def __init__(self, *args, norm: Norm, **kwargs) -> None:
        super().__init__()
        self.conv = conv1d(norm, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class NormConv2d(nn.Module):
    """:func:`conv2d` held as ``.conv`` (keys ``...conv.weight_g`` like EnCodec's NormConv2d)."""

    def __init__(self, *args, norm: Norm, **kwargs) -> None:
        super().__init__()
        self.conv = conv2d(norm, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class NormConvTranspose1d(nn.Module):
    """:func:`conv_transpose1d` held as ``.convtr`` (EnCodec's key name for it)."""

    def __init__(self, *args, norm: Norm, **kwargs) -> None:
        super().__init__()
        self.convtr = conv_transpose1d(norm, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convtr(x)

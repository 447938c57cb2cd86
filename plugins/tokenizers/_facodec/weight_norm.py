"""Weight-normalised conv / transposed conv / linear layers with the *old* state-dict layout.

The published FACodec checkpoints were saved with ``torch.nn.utils.weight_norm``, whose keys are
``bias``, ``weight_g`` and ``weight_v`` (in that order) and no ``weight``. The newer
parametrisation API names them differently, so these modules store ``weight_g``/``weight_v``
themselves and rebuild ``w = g * v / ||v||`` on every call, the norm taken over every dimension
except dim 0 (for a transposed conv dim 0 is the *input*-channel axis, hence ``weight_g
[in, 1, 1]`` there).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _norm_except_dim0(v: torch.Tensor) -> torch.Tensor:
    return v.norm(2, dim=tuple(range(1, v.dim())), keepdim=True)


class _WeightNormed(nn.Module):
    """Holds ``bias`` (optional), ``weight_g`` and ``weight_v``; subclasses define the op."""

    def _init_params(self, v_shape: tuple[int, ...], fan_in: int, bias_size: int | None) -> None:
        # Registration order fixes the state-dict order: bias, weight_g, weight_v.
        if bias_size is not None:
            self.bias = nn.Parameter(torch.empty(bias_size))
        else:
            self.register_parameter("bias", None)
        g_shape = (v_shape[0],) + (1,) * (len(v_shape) - 1)
        self.weight_g = nn.Parameter(torch.empty(g_shape))
        self.weight_v = nn.Parameter(torch.empty(v_shape))
        self._fan_in = fan_in
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same start as torch's layer defaults followed by weight_norm (g = ||v||).
        if self.weight_v.is_meta:  # shape-only build (checkpoint loading): nothing to initialise
            return
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))
        with torch.no_grad():
            self.weight_g.copy_(_norm_except_dim0(self.weight_v))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self._fan_in) if self._fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight ``g * v / ||v||``."""
        return self.weight_v * (self.weight_g / _norm_except_dim0(self.weight_v))


class WNConv1d(_WeightNormed):
    """Weight-normalised ``Conv1d``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._init_params((out_channels, in_channels, kernel_size), in_channels * kernel_size,
                          out_channels if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}")


class WNConvTranspose1d(_WeightNormed):
    """Weight-normalised ``ConvTranspose1d`` (weight ``[in, out, k]``, ``weight_g [in, 1, 1]``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, output_padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        # torch's ConvTranspose1d computes its fan-in from weight.size(1) * k = out * k.
        self._init_params((in_channels, out_channels, kernel_size), out_channels * kernel_size,
                          out_channels if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={self.output_padding}")


class WNLinear(_WeightNormed):
    """Weight-normalised ``Linear`` (``weight_g [out, 1]``), as FACodec's FVQ projections."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_params((out_features, in_features), in_features, out_features if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"

"""Weight-normalised and spectral-normalised convolutions with the official checkpoint keys.

The official DM-Codec discriminators (HiFi-GAN MPD/MSD and EnCodec's MS-STFT) wrap every conv in
the *old* ``torch.nn.utils.weight_norm``, which stores ``bias, weight_g, weight_v`` (in that order)
and no ``weight``. That API is deprecated, and its replacement (``parametrizations.weight_norm``)
uses other key names, so this module re-implements weight norm as plain parameters with the old
names: a checkpoint of the official code loads with ``strict=True`` and our checkpoints load there.

Spectral norm keeps ``torch.nn.utils.spectral_norm`` (not deprecated, keys ``weight_orig`` plus
buffers ``weight_u``/``weight_v``; one power iteration per training forward, none in eval).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["weight_norm", "spectral_norm", "none"]


def _norm_except_dim0(v: torch.Tensor) -> torch.Tensor:
    """L2 norm over every dimension but the first, kept as ``[out, 1, ..., 1]`` (torch's dim=0)."""
    return v.norm(p=2, dim=tuple(range(1, v.dim())), keepdim=True)


class _WeightNormMixin:
    """Replace the ``weight`` parameter of a conv by ``weight_g`` (magnitude) and ``weight_v`` (direction).

    w = g · v / ‖v‖, the norm over all dimensions except dim 0, exactly like the old
    ``weight_norm(module, dim=0)``. Initialisation keeps the conv's initial weight (g = ‖w‖, v = w).
    """

    weight_g: nn.Parameter
    weight_v: nn.Parameter

    def _init_weight_norm(self) -> None:
        module: nn.Module = self  # type: ignore[assignment]
        weight = module._parameters.pop("weight")
        assert weight is not None
        with torch.no_grad():
            g = _norm_except_dim0(weight).clone()
            v = weight.detach().clone()
        # Registration order after ``bias`` reproduces the official state_dict order.
        module.register_parameter("weight_g", nn.Parameter(g))
        module.register_parameter("weight_v", nn.Parameter(v))

    def normalized_weight(self) -> torch.Tensor:
        v = self.weight_v
        return v * (self.weight_g / _norm_except_dim0(v))


class WNConv1d(_WeightNormMixin, nn.Conv1d):
    """``nn.Conv1d`` with old-style weight norm (keys ``bias, weight_g, weight_v``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_weight_norm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class WNConv2d(_WeightNormMixin, nn.Conv2d):
    """``nn.Conv2d`` with old-style weight norm (keys ``bias, weight_g, weight_v``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_weight_norm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


def conv1d(norm: Norm, *args, **kwargs) -> nn.Module:
    """A Conv1d with the requested normalisation: ``weight_norm``, ``spectral_norm`` or ``none``."""
    if norm == "weight_norm":
        return WNConv1d(*args, **kwargs)
    if norm == "spectral_norm":
        return nn.utils.spectral_norm(nn.Conv1d(*args, **kwargs))
    if norm == "none":
        return nn.Conv1d(*args, **kwargs)
    raise ValueError(f"unknown conv norm {norm!r}; expected 'weight_norm', 'spectral_norm' or 'none'")


def conv2d(norm: Norm, *args, **kwargs) -> nn.Module:
    """A Conv2d with the requested normalisation: ``weight_norm``, ``spectral_norm`` or ``none``."""
    if norm == "weight_norm":
        return WNConv2d(*args, **kwargs)
    if norm == "spectral_norm":
        return nn.utils.spectral_norm(nn.Conv2d(*args, **kwargs))
    if norm == "none":
        return nn.Conv2d(*args, **kwargs)
    raise ValueError(f"unknown conv norm {norm!r}; expected 'weight_norm', 'spectral_norm' or 'none'")


def check_waveform(wav: torch.Tensor, who: str) -> None:
    """Discriminators take mono waveforms ``[B, 1, N]``; anything else is a caller bug worth naming."""
    if not isinstance(wav, torch.Tensor) or wav.dim() != 3 or wav.shape[1] != 1:
        shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
        raise ValueError(f"{who} expects a waveform of shape [B, 1, N], got {shape}")


def conv_stack(
    x: torch.Tensor, convs: "nn.ModuleList", conv_post: "nn.Module", negative_slope: float
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The HiFi-GAN sub-discriminator body shared by MPD and MSD: LeakyReLU after every conv,
    every activation (and the post conv's output) kept as a feature map for feature matching."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), negative_slope)
        fmap.append(x)
    x = conv_post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


def run_each(discriminators: "nn.ModuleList", wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """Run every sub-discriminator on the same input; collect logits and feature maps in order."""
    logits, fmaps = [], []
    for d in discriminators:
        y, f = d(wav)
        logits.append(y)
        fmaps.append(f)
    return logits, fmaps

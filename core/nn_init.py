"""Weight initialisation schemes for convolutional codecs and discriminators (``init:`` keys).

Why this exists: PyTorch's default convolution init (``kaiming_uniform(a=√5)``: weight variance
``1/(3·fan_in)``, bias uniform in ``±1/√fan_in``) shrinks a signal's variance about 3× per layer
while every layer adds a fresh constant from its bias. Through the ~12 layers of a convolutional
encoder or decoder the input-dependent part of the activations falls by orders of magnitude and the
biases dominate: at random init the demo-size codec gives the *same* output for every input
(measured in docs/training.md, "Why the codec collapsed"). Old-style weight norm keeps that
scale (``g = ‖v‖``), and Adam can grow ``g`` only by about ``lr`` per step, so at 1e-4 the
network needs thousands of steps before its output depends on its input at all; small runs
train a constant. Audio codecs that train quickly start from zero biases (DAC) and a weight
scale that keeps the signal's variance.

Schemes:

* ``"torch_default"`` — leave the modules as PyTorch built them (the official codecs'
  behaviour; what the published checkpoints were trained from).
* ``"variance_preserving"`` — every convolution / linear weight ~ N(0, 1/fan_in) (He init with
  gain 1, right for the near-linear ELU/LeakyReLU regime these networks start in), bias 0;
  weight-normalised layers get ``v`` drawn so and ``g = ‖v‖``. ``fan_in`` of a transposed
  convolution counts the taps that reach one output sample (``in/groups · kernel/stride``),
  not the weight's second axis. LSTMs and normalisation layers keep PyTorch's init.

Only random initialisation is affected: a model loaded from a checkpoint has its weights replaced.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError

INIT_SCHEMES = ("torch_default", "variance_preserving")


def check_init(scheme: str, who: str) -> str:
    """The scheme name, or a ConfigError that lists the valid ones."""
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"{who}: init must be one of {', '.join(INIT_SCHEMES)}; got {scheme!r}")
    return scheme


def _is_transposed(module: nn.Module) -> bool:
    return bool(getattr(module, "transposed", False)) or isinstance(module, nn.modules.conv._ConvTransposeNd) \
        or type(module).__name__.endswith("Transpose1d")


def fan_in(module: nn.Module, weight: torch.Tensor) -> int:
    """Inputs summed into one output value of ``module`` (weight shaped as the torch layer's)."""
    if weight.dim() < 2:
        raise ValueError(f"fan_in needs a weight of rank >= 2, got {tuple(weight.shape)}")
    groups = int(getattr(module, "groups", 1))
    taps = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    if _is_transposed(module):  # weight [in, out/groups, *k]; each output sees in/groups · k/stride taps
        stride = math.prod(getattr(module, "stride", (1,)))
        return max(1, round(weight.shape[0] // groups * taps / stride))
    return int(weight.shape[1]) * taps  # weight [out, in/groups, *k]


def norm_except_dim0(v: torch.Tensor) -> torch.Tensor:
    """L2 norm over every dimension but the first, kept broadcastable (``[C, 1, ..., 1]``): the
    magnitude ``g`` of old-style weight norm (``torch.nn.utils.weight_norm(module, dim=0)``)."""
    return torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())), keepdim=True)


@torch.no_grad()
def _init_layer(module: nn.Module, generator: torch.Generator | None) -> bool:
    """Variance-preserving init of one layer in place; False when it holds no weight to set."""
    weight_v = getattr(module, "weight_v", None)
    weight_g = getattr(module, "weight_g", None)
    v: torch.Tensor
    if isinstance(weight_v, torch.Tensor) and isinstance(weight_g, torch.Tensor):
        v = weight_v
    elif isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
        v = getattr(module, "weight_orig", module.weight)  # spectral norm keeps the raw weight in weight_orig
        weight_g = None
    else:
        return False
    std = 1.0 / math.sqrt(fan_in(module, v))
    v.normal_(0.0, std, generator=generator)
    if weight_g is not None:
        weight_g.copy_(norm_except_dim0(v))
    bias = getattr(module, "bias", None)
    if isinstance(bias, torch.Tensor):
        bias.zero_()
    return True


def initialise_(model: nn.Module, scheme: str, generator: torch.Generator | None = None) -> nn.Module:
    """Apply ``scheme`` to every convolution and linear layer of ``model`` in place; returns it."""
    check_init(scheme, type(model).__name__)
    if scheme == "torch_default":
        return model
    for module in model.modules():
        _init_layer(module, generator)
    return model

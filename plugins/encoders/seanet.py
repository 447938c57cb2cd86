"""SEANet encoder and decoder of SpeechTokenizer / DM-Codec (``seanet_encoder``, ``seanet_decoder``).

Constructor arguments are the official config keys (``n_filters, strides, dimension,
bidirectional, dilation_base, residual_kernel_size, n_residual_layers, lstm_layers, activation``)
plus the settings the official code fixes (``kernel_size 7, last_kernel_size 7, compress 2,
true_skip False, causal False, pad_mode reflect, norm weight_norm``), with those values as
defaults. Defaults of the official keys are the paper's configuration.

``init`` (not an official key) chooses the random initialisation (:mod:`tokenizer_bench.core.nn_init`):
``"variance_preserving"`` (default: zero biases, weights N(0, 1/fan_in)) or ``"torch_default"``
(PyTorch's, as the official code). With PyTorch's init the demo-size codec's output does not
depend on its input for the first thousands of steps (docs/training.md, "Why the codec
collapsed"); loading a checkpoint replaces the weights either way. Module and parameter
names reproduce the official ``model.N...`` layout, so official state dicts load strictly.

Layout (encoder, strides reversed): conv7 -> [resblock, act, down-conv(2s, s)] per stride ->
SLSTM -> act -> conv(last_kernel) to ``dimension``. Decoder: conv7 -> SLSTM (unidirectional) ->
[act, up-conv(2s, s), resblock] per stride -> act -> conv(last_kernel) to ``channels``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.nn_init import check_init, initialise_

from tokenizer_bench.plugins.encoders._modules import (
    SConv1d,
    SConvTranspose1d,
    SEANetResnetBlock,
    SLSTM,
    forward_sequential,
    make_activation,
)


def _check_strides(strides: Sequence[int]) -> list[int]:
    out = [int(s) for s in strides]
    if not out or any(s < 1 for s in out):
        raise ConfigError(f"strides must be a non-empty list of positive integers; got {list(strides)!r}")
    return out


class SEANetEncoder(nn.Module):
    """Waveform ``[B, channels, N]`` -> latent ``[B, dimension, ceil(N / hop_length)]``."""

    def __init__(
        self,
        n_filters: int = 64,
        strides: Sequence[int] = (8, 5, 4, 2),
        dimension: int = 1024,
        bidirectional: bool = True,
        dilation_base: int = 2,
        residual_kernel_size: int = 3,
        n_residual_layers: int = 1,
        lstm_layers: int = 2,
        activation: str = "ELU",
        activation_params: dict | None = None,
        channels: int = 1,
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        compress: int = 2,
        true_skip: bool = False,
        causal: bool = False,
        pad_mode: str = "reflect",
        norm: str = "weight_norm",
        init: str = "variance_preserving",
    ) -> None:
        super().__init__()
        check_init(init, "seanet_encoder")
        strides = _check_strides(strides)
        self.channels = channels
        self.dimension = int(dimension)
        self.n_filters = n_filters
        self.strides = strides
        #: Samples per latent frame.
        self.hop_length = int(math.prod(strides))
        common = dict(norm=norm, causal=causal, pad_mode=pad_mode)

        mult = 1
        model: list[nn.Module] = [SConv1d(channels, mult * n_filters, kernel_size, **common)]
        for ratio in reversed(strides):
            for j in range(n_residual_layers):
                model.append(SEANetResnetBlock(
                    mult * n_filters, kernel_sizes=(residual_kernel_size, 1), dilations=(dilation_base ** j, 1),
                    activation=activation, activation_params=activation_params, compress=compress,
                    true_skip=true_skip, **common))
            model += [
                make_activation(activation, activation_params, mult * n_filters),
                SConv1d(mult * n_filters, mult * n_filters * 2, kernel_size=ratio * 2, stride=ratio, **common),
            ]
            mult *= 2
        if lstm_layers:
            model.append(SLSTM(mult * n_filters, num_layers=lstm_layers, bidirectional=bidirectional))
            if bidirectional:
                mult *= 2
        elif bidirectional:
            # The official code doubles the width for a bidirectional flag even without an LSTM,
            # which then fails at the first forward; refuse that configuration up front.
            raise ConfigError("seanet_encoder: bidirectional=True needs lstm_layers > 0")
        model += [
            make_activation(activation, activation_params, mult * n_filters),
            SConv1d(mult * n_filters, self.dimension, last_kernel_size, **common),
        ]
        self.model = nn.Sequential(*model)
        initialise_(self, init)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() != 3 or wav.shape[1] != self.channels:
            raise ValueError(f"seanet_encoder expects [B, {self.channels}, N] audio, got {tuple(wav.shape)}")
        return forward_sequential(self.model, wav)


class SEANetDecoder(nn.Module):
    """Latent ``[B, dimension, T]`` -> waveform ``[B, channels, T * hop_length]`` (no final tanh).

    The decoder LSTM is unidirectional: the official generator always builds it with
    ``bidirectional=False`` (its decoder could not run with a bidirectional LSTM), so ``True``
    is refused rather than silently ignored.
    """

    def __init__(
        self,
        n_filters: int = 64,
        strides: Sequence[int] = (8, 5, 4, 2),
        dimension: int = 1024,
        bidirectional: bool = False,
        dilation_base: int = 2,
        residual_kernel_size: int = 3,
        n_residual_layers: int = 1,
        lstm_layers: int = 2,
        activation: str = "ELU",
        activation_params: dict | None = None,
        channels: int = 1,
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        compress: int = 2,
        true_skip: bool = False,
        causal: bool = False,
        pad_mode: str = "reflect",
        norm: str = "weight_norm",
        trim_right_ratio: float = 1.0,
        init: str = "variance_preserving",
    ) -> None:
        super().__init__()
        check_init(init, "seanet_decoder")
        if bidirectional:
            raise ConfigError(
                "seanet_decoder: bidirectional=True is not supported; the official generator forces a "
                "unidirectional decoder LSTM (set bidirectional: false for the decoder)"
            )
        strides = _check_strides(strides)
        self.channels = channels
        self.dimension = int(dimension)
        self.n_filters = n_filters
        self.strides = strides
        self.hop_length = int(math.prod(strides))
        common = dict(norm=norm, causal=causal)

        mult = 2 ** len(strides)
        model: list[nn.Module] = [SConv1d(self.dimension, mult * n_filters, kernel_size, pad_mode=pad_mode, **common)]
        if lstm_layers:
            model.append(SLSTM(mult * n_filters, num_layers=lstm_layers, bidirectional=False))
        for ratio in strides:
            model += [
                make_activation(activation, activation_params, mult * n_filters),
                SConvTranspose1d(mult * n_filters, mult * n_filters // 2, kernel_size=ratio * 2, stride=ratio,
                                 trim_right_ratio=trim_right_ratio, **common),
            ]
            for j in range(n_residual_layers):
                model.append(SEANetResnetBlock(
                    mult * n_filters // 2, kernel_sizes=(residual_kernel_size, 1), dilations=(dilation_base ** j, 1),
                    activation=activation, activation_params=activation_params, compress=compress,
                    true_skip=true_skip, pad_mode=pad_mode, **common))
            mult //= 2
        model += [
            make_activation(activation, activation_params, n_filters),
            SConv1d(n_filters, channels, last_kernel_size, pad_mode=pad_mode, **common),
        ]
        self.model = nn.Sequential(*model)
        initialise_(self, init)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        if latent.dim() != 3 or latent.shape[1] != self.dimension:
            raise ValueError(f"seanet_decoder expects [B, {self.dimension}, T] latents, got {tuple(latent.shape)}")
        return forward_sequential(self.model, latent)


def register_encoders(register) -> None:
    register("seanet_encoder", SEANetEncoder)


def register_decoders(register) -> None:
    register("seanet_decoder", SEANetDecoder)

"""Structural interfaces of the pluggable components.

These are :class:`typing.Protocol` classes: a plugin need not inherit from them, only provide
the attributes. They document the contract between the trainer/harness (core) and components.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass
class QuantizerOutput:
    """What a quantizer's ``forward`` returns during training.

    ``layer_outputs[k]`` is the quantized output of RVQ layer k (``[B,D,T]``) — the distillation
    targets RVQ-1, RVQ-8 and the RVQ-1:8 average are computed from these.
    """

    quantized: torch.Tensor  # [B, D, T], straight-through
    codes: torch.Tensor  # [B, Q, T] int64
    commit_loss: torch.Tensor  # scalar
    layer_outputs: list[torch.Tensor] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. usage/perplexity per layer


@runtime_checkable
class Encoder(Protocol):
    hop_length: int
    dimension: int

    def __call__(self, wav: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Decoder(Protocol):
    def __call__(self, latent: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Quantizer(Protocol):
    num_codebooks: int
    codebook_size: int
    dimension: int

    def __call__(self, x: torch.Tensor, n_q: int | None = None) -> QuantizerOutput: ...

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor: ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Discriminator(Protocol):
    def __call__(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]: ...


@dataclass(frozen=True)
class MetricNeeds:
    """What a metric needs; the harness disables a metric whose needs are not met, saying why."""

    reference_audio: bool = True
    reference_text: bool = False
    transcript: bool = False  # an ASR transcript of the reconstruction
    gpu: bool = False
    packages: tuple[str, ...] = ()  # importable module names
    sample_rate: int | None = None  # audio is resampled to this rate before scoring


@runtime_checkable
class Metric(Protocol):
    name: str
    needs: MetricNeeds
    higher_is_better: bool

    def __call__(self, **inputs: Any) -> float: ...

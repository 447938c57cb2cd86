"""The official DM-Codec / SpeechTokenizer generator's ``transform`` head, for the official layout.

The official generator holds ``transform = nn.Linear(dimension, semantic_dimension)`` (only when
the two sizes differ; otherwise it is an Identity without keys) and applies it to the first RVQ
layer's output to get the distillation student. Here that projection belongs to the distillation
loss, so a generator this project trains has no head (``semantic_dimension: null``), and nothing
in its forward pass is left without a gradient. The head exists only for the official layout:

* at build time, when a config asks for ``semantic_dimension`` (official checkpoints carry the
  head's weights and load strictly), through :class:`OfficialTransformHead`;
* on save, :func:`state_dict_with_head` adds a projection trained elsewhere (e.g. the
  distillation loss's) as ``transform.*`` to a head-less generator's state dict, in the official
  key order (``dm_codec.save_official_layout(..., transform=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

TRANSFORM = "transform"


class OfficialTransformHead:
    """Mixin of a generator (an ``nn.Module`` with ``encoder``) that may carry the official head."""

    def add_official_transform(self, dimension: int, semantic_dimension: int | None) -> None:
        """Register ``transform`` when ``semantic_dimension`` differs from ``dimension``.

        Call it right after registering ``encoder``: the official state dict lists the head's keys
        between the encoder's and the quantizer's, and the head's init draws from the RNG there.
        """
        if semantic_dimension is not None and int(semantic_dimension) != int(dimension):
            setattr(self, TRANSFORM, nn.Linear(int(dimension), int(semantic_dimension)))

    def project(self, quantized: torch.Tensor) -> torch.Tensor:
        """RVQ output ``[B, D, T]`` -> ``[B, T, semantic_dimension]``: the official forward's student."""
        x = quantized.transpose(1, 2)
        transform = getattr(self, TRANSFORM, None)
        return transform(x) if transform is not None else x


def state_dict_with_head(state: Mapping[str, torch.Tensor], head: nn.Linear) -> dict[str, torch.Tensor]:
    """``state`` (without ``transform.*``) plus ``head``'s weight and bias right after the encoder's keys."""
    if any(k.startswith(TRANSFORM + ".") for k in state):
        raise ValueError("the generator already has a transform head; pass no transform")
    head_state = {f"{TRANSFORM}.{k}": v.detach().cpu().clone() for k, v in head.state_dict().items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if head_state and not key.startswith("encoder."):
            out.update(head_state)
            head_state = {}
        out[key] = value
    out.update(head_state)
    return out

"""Shared internals of the built-in teachers: devices, layer selection, freezing, mono audio.

Where a model comes from (bundled alias, folder, hub id) is plugins/_pretrained.py's, shared with
the ASR backends and metrics.
"""

from __future__ import annotations

from typing import Sequence

import torch

from tokenizer_bench.core.errors import ConfigError

Layers = str | int


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available here; use device: cpu or auto")
    return dev


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Teachers are frozen: eval mode (no dropout) and no gradients."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def check_layers(layers: Layers) -> Layers:
    """Validate the ``layers`` option early (before any model loads)."""
    if isinstance(layers, bool):
        raise ConfigError(f"layers: expected 'average', 'last' or a hidden-state index, got {layers!r}")
    if isinstance(layers, int):
        return layers
    if isinstance(layers, str):
        if layers in ("average", "last"):
            return layers
        if layers.lstrip("-").isdigit():
            return int(layers)
    raise ConfigError(f"layers: expected 'average', 'last' or a hidden-state index (e.g. 9), got {layers!r}")


def select_hidden_states(hidden_states: Sequence[torch.Tensor], layers: Layers,
                         include_embeddings: bool) -> torch.Tensor:
    """One representation from ``output_hidden_states``.

    ``hidden_states[0]`` is the embedding (for speech models: the encoder input after the
    positional convolution) and ``hidden_states[k]`` the output of transformer layer k.

    * ``"average"``: the mean over all of them (``include_embeddings=True``, the official code's
      ``torch.stack(hidden_states).mean(0)``) or over the layer outputs only.
    * ``"last"``: ``hidden_states[-1]``.
    * an int k: ``hidden_states[k]`` (so 9 is the 9th layer's output; negative counts from the end).
    """
    n = len(hidden_states)
    if layers == "average":
        chosen = hidden_states if include_embeddings else hidden_states[1:]
        return torch.stack(list(chosen), dim=0).mean(dim=0)
    if layers == "last":
        return hidden_states[-1]
    k = int(layers)
    if not -n <= k < n:
        raise ConfigError(
            f"layers: index {k} out of range; this model has {n} hidden states (0 = embeddings, 1..{n - 1} = layers)"
        )
    return hidden_states[k]


def to_dtype(name: str) -> torch.dtype:
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise ConfigError(f"dtype: expected float32, float16 or bfloat16, got {name!r}") from None


def mono_1d(wav: torch.Tensor) -> torch.Tensor:
    """Accept ``[N]``, ``[1, N]`` or ``[1, 1, N]`` mono audio; return ``[N]`` float32 on CPU."""
    wav = wav.detach().float().cpu()
    while wav.dim() > 1 and wav.shape[0] == 1:
        wav = wav[0]
    if wav.dim() != 1:
        raise ValueError(f"expected mono audio [N], got shape {tuple(wav.shape)}")
    return wav

"""Compare a module's state_dict layout with an official manifest entry.

The reference manifests (``dmcodec_discriminators_state_dict.json``) list, per official
discriminator, every state_dict key with its shape, plus parameter counts. A re-implementation is
checkpoint-compatible when keys, order, shapes and counts all agree; this helper says which do not.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def state_dict_layout(module: nn.Module) -> list[tuple[str, list[int]]]:
    """``[(key, shape), ...]`` in state_dict order."""
    return [(k, list(v.shape)) for k, v in module.state_dict().items()]


def layout_differences(module: nn.Module, entry: dict[str, Any]) -> list[str]:
    """Human-readable differences between ``module`` and one manifest entry (empty when identical).

    ``entry`` is ``manifest["discriminators"][name]``: it holds ``state_dict`` (list of
    ``[key, shape, dtype]``), ``num_parameters``, ``num_state_dict_entries`` and ``buffer_keys``.
    """
    ours = state_dict_layout(module)
    theirs = [(k, list(shape)) for k, shape, *_ in entry["state_dict"]]
    diffs: list[str] = []
    our_keys, their_keys = [k for k, _ in ours], [k for k, _ in theirs]
    missing = sorted(set(their_keys) - set(our_keys))
    extra = sorted(set(our_keys) - set(their_keys))
    if missing:
        diffs.append(f"missing keys: {missing}")
    if extra:
        diffs.append(f"unexpected keys: {extra}")
    if not missing and not extra and our_keys != their_keys:
        diffs.append("same keys in a different order")
    their_shapes = dict(theirs)
    for k, shape in ours:
        if k in their_shapes and their_shapes[k] != shape:
            diffs.append(f"{k}: shape {shape} != official {their_shapes[k]}")
    n_params = sum(p.numel() for p in module.parameters())
    if n_params != entry["num_parameters"]:
        diffs.append(f"parameters {n_params} != official {entry['num_parameters']}")
    if len(ours) != entry["num_state_dict_entries"]:
        diffs.append(f"state_dict entries {len(ours)} != official {entry['num_state_dict_entries']}")
    our_buffers = sorted(k for k, _ in module.named_buffers())
    if our_buffers != sorted(entry.get("buffer_keys", [])):
        diffs.append(f"buffers {our_buffers} != official {sorted(entry.get('buffer_keys', []))}")
    return diffs

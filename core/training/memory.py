"""Host-memory levers of the trainer: giving freed heap back, and recomputing activations.

Why ``malloc_trim``: on CPU, PyTorch allocates tensors with the C library's ``malloc``. glibc keeps
freed blocks of up to 32 MiB in its heap (its mmap threshold adapts upwards), so after a few steps
the process holds the activations of the last step *plus* a fragmented heap the next step cannot
reuse in full: peak RSS of the paper configuration crept from 7.5 to 8.7 GiB that way
(benchmarks/results/train_step.md). Trimming once per optimiser step returns those pages.

Why activation checkpointing by submodule name: the generator's encoder and decoder hold most of
its saved activations (the full-rate residual blocks); recomputing them in the backward pass
trades a second forward of those parts for their memory. Names are attribute paths in the
generator (``encoder``, ``decoder``) so any generator with such parts can use it; the wrapped
parts keep their parameter names, so checkpoints and exports do not change.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from tokenizer_bench.core.errors import ConfigError

__all__ = ["checkpoint_submodules"]


def checkpoint_submodules(root: nn.Module, names: Sequence[str], who: str = "generator") -> list[str]:
    """Recompute the forward of ``root.<name>`` in backward (``torch.utils.checkpoint``, non-reentrant).

    Only for parts whose forward has no side effects on state (convolutions, LSTMs, norms without
    running statistics); never for the quantizer, whose EMA codebooks update in the forward.
    """
    done = []
    for name in names:
        try:
            module = root.get_submodule(name)
        except AttributeError:
            children = ", ".join(n for n, _ in root.named_children())
            raise ConfigError(
                f"trainer.activation_checkpointing: the {who} has no submodule {name!r} (its parts: {children})"
            ) from None
        if getattr(module, "_tb_checkpointed", False):
            continue
        forward = module.forward

        @functools.wraps(forward)
        def recomputed(*args: Any, _forward=forward, **kwargs: Any) -> Any:
            if not torch.is_grad_enabled():  # validation, export: nothing to save
                return _forward(*args, **kwargs)
            return checkpoint(_forward, *args, use_reentrant=False, **kwargs)

        module.forward = recomputed  # instance attribute: parameter names stay as they are
        setattr(module, "_tb_checkpointed", True)
        done.append(name)
    return done

"""What the generic trainer and a recipe exchange, and the config's loss terms as built objects.

A recipe (``core.interfaces.Recipe``, registered through ``register_recipes``) owns the training
step; the trainer owns everything around it. The pieces here are generic: optimiser groups a
recipe declares, the result of one micro-step, and the weighted loss terms of ``losses:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import LOSS_INPUTS, TRAINABLE_CODEC_ATTRIBUTES, Recipe


@dataclass
class OptimizerGroup:
    """One optimiser (and schedule) over one module's parameters.

    ``key`` names it in checkpoints (``optim_<key>``, ``scheduler_<key>``); ``label`` in logs
    (``lr/<label>``). ``distributed``: the trainer DDP-wraps the module (``Accelerator.prepare``)
    and the recipe finds the wrapped one in ``trainer.prepared[key]``; otherwise the module is
    only moved to the device and the recipe averages its gradients itself (``gan.average_gradients``).
    """

    key: str
    label: str
    module: nn.Module
    lr: float
    distributed: bool = True


@dataclass
class StepResult:
    """One micro-step: logged scalars (``loss/*``, ``weighted/*``, ``grad_norm/*``, ...), the batch's
    audio and reconstruction (for audio logs), its codes ``[B, Q, T]`` (code-usage statistics) and
    what the progress bar shows. Scalars may be 0-dim tensors on the device (floats too): the trainer
    sums them and brings them to the host once per log step."""

    scalars: dict[str, Any]
    wav: torch.Tensor
    wav_hat: torch.Tensor
    codes: torch.Tensor | None = None
    progress: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LossTerm:
    """A built term of ``losses:``: ``weight · loss(<its inputs>)``."""

    name: str
    loss: Any
    weight: float

    @property
    def inputs(self) -> str:
        return self.loss.inputs


def build_loss_terms(
    specs: Mapping[str, Any], default_weights: Mapping[str, float], extra: Mapping[str, Mapping[str, Any]] | None = None
) -> list[LossTerm]:
    """The config's loss terms in their canonical order: by input kind (as :data:`LOSS_INPUTS`
    lists them), then by term name. A total added up in this order gives the same floats however a
    config file orders its keys (a YAML dump may sort them). ``default_weights``: the recipe's
    weight of a term whose config leaves ``weight`` out; ``extra``: arguments the recipe passes to
    the losses of one input kind (e.g. sizes to ``teacher_features`` losses)."""
    terms: list[LossTerm] = []
    for name, spec in specs.items():
        if spec.weight is not None:
            weight = float(spec.weight)
        elif name in default_weights:
            weight = float(default_weights[name])
        else:
            raise ConfigError(f"losses.{name}: no weight set and the recipe has no default weight for {name!r}")
        inputs = spec.inputs  # the registry entry validation looked up (core.train_config.LossTerm.entry)
        if inputs not in LOSS_INPUTS:
            raise ConfigError(
                f"losses.{name}: loss {spec.name!r} declares no known inputs (class attribute `inputs`, one of "
                f"{', '.join(LOSS_INPUTS)}; see core/interfaces.py), got {inputs!r}"
            )
        terms.append(LossTerm(name, spec.build_loss(**(extra or {}).get(inputs, {})), weight))
    return sorted(terms, key=lambda t: (LOSS_INPUTS.index(t.inputs), t.name))


def weighted_total(
    values: Mapping[str, torch.Tensor], weights: Mapping[str, float]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(Σ w·v, {name: w·v})`` over ``values`` in their order (each a scalar tensor)."""
    if not values:
        raise ValueError("the total loss needs at least one term")
    weighted: dict[str, torch.Tensor] = {}
    for name, value in values.items():
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"loss term {name!r} must be a scalar tensor, got {shape}")
        weighted[name] = weights[name] * value
    return torch.stack(list(weighted.values())).sum(), weighted


def check_trainable(codec: Any, name: str) -> None:
    """ConfigError naming what a tokenizer lacks to be trained (``core.interfaces.TrainableCodec``)."""
    missing = [a for a in TRAINABLE_CODEC_ATTRIBUTES if not hasattr(codec, a)]
    if not isinstance(getattr(codec, "generator", None), nn.Module):
        missing = sorted(set(missing) | {"generator"})
    if missing:
        raise ConfigError(
            f"model.tokenizer {name!r} is not trainable: it lacks {', '.join(missing)} "
            "(core.interfaces.TrainableCodec: a `generator` torch module returning (wav_hat, QuantizerOutput), "
            "sample_rate, codebook_size, save_pretrained, default_recipe)"
        )


def build_recipe(cfg: Any) -> Recipe:
    """The config's ``recipe`` from the ``recipes`` registry (the trainer fills in the tokenizer's
    ``default_recipe`` when the config names none)."""
    spec = cfg.recipe
    if spec is None:
        raise ConfigError("no recipe: name one in the config (recipe: {name: ...}) or train a tokenizer that "
                          "declares default_recipe")
    recipe = _registry("recipes").build(spec.name, cfg=cfg, **spec.kwargs)
    if not isinstance(recipe, Recipe):
        missing = [m for m in ("feature_roles", "build", "modules", "optimizers", "micro_step", "validation_loss")
                   if not callable(getattr(recipe, m, None))]
        raise ConfigError(f"recipe {spec.name!r} is not a recipe: it lacks {', '.join(missing)} "
                          "(core.interfaces.Recipe, docs/recipes.md)")
    return recipe


def _registry(kind: str):
    from tokenizer_bench.core.plugins import get_registry

    return get_registry(kind)

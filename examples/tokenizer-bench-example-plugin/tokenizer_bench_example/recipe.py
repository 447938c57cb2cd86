"""A recipe plugin: train the codec's generator alone on its reconstruction terms (no GAN, no teachers).

The smallest complete :class:`tokenizer_bench.core.interfaces.Recipe`: one optimiser group, the
config's ``waveforms`` and ``quantizer`` loss terms added up with their weights, the usual
``loss/*``, ``weighted/*`` and ``grad_norm/*`` scalars. A config selects it with
``recipe: {name: reconstruction_only}``; the trainer around it (accumulation, checkpoints and
resume, schedules, logging, validation, export) is the project's own. It declares no
``config_schema``, so its config has core's sections only: a ``discriminators`` or ``teachers``
section is refused when the config is read.
"""

from __future__ import annotations

from typing import Any

import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import QUANTIZER, WAVEFORMS
from tokenizer_bench.core.training.recipe import OptimizerGroup, StepResult, build_loss_terms, weighted_total


class ReconstructionOnlyRecipe:
    """Σ weight · term over the config's ``waveforms`` and ``quantizer`` terms; the generator's step only."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def feature_roles(self) -> tuple[str, ...]:
        return ()  # the batches need no teacher features

    def build(self, codec: Any, feature_dims: dict[str, int]) -> None:
        self.generator = codec.generator.train()  # a tokenizer is built in eval mode; the recipe sets the mode
        self.terms = build_loss_terms(self.cfg.terms(), default_weights={})
        other = [t.name for t in self.terms if t.inputs not in (WAVEFORMS, QUANTIZER)]
        if other:
            raise ConfigError(f"recipe reconstruction_only computes waveforms and quantizer terms only, not "
                              f"losses.{', losses.'.join(other)}")
        if not any(t.inputs == WAVEFORMS for t in self.terms):
            raise ConfigError("recipe reconstruction_only: list at least one waveforms loss (e.g. waveform_l1)")
        self.weights = {t.name: t.weight for t in self.terms}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator}

    def optimizers(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("g", "generator", self.generator, self.cfg.trainer.lr_generator)]

    def micro_step(self, trainer: Any, batch: dict[str, Any], sync: bool, accum: int) -> StepResult:
        acc = trainer.accelerator
        wav = batch["wav"].to(acc.device)
        with trainer.phase("generator_forward"), acc.autocast():
            wav_hat, qout = trainer.prepared["g"](wav)
        wav_hat = wav_hat[..., : wav.shape[-1]]
        x, y = wav.float(), wav_hat.float()
        values = {t.name: t.loss(x, y) if t.inputs == WAVEFORMS else t.loss(qout) for t in self.terms}
        total, weighted = weighted_total(values, self.weights)
        acc.backward(total / accum)
        scalars = {f"loss/{k}": float(v.detach()) for k, v in values.items()}
        scalars.update({f"weighted/{k}": float(v.detach()) for k, v in weighted.items()})
        scalars["loss/generator_total"] = float(total.detach())
        if sync:  # the last micro-batch of an optimiser step
            scalars["grad_norm/generator"] = trainer.clip(self.generator.parameters())
            trainer.optimizers["g"].step()
            trainer.optimizers["g"].zero_grad(set_to_none=True)
        return StepResult(scalars, wav.detach(), wav_hat.detach(), codes=qout.codes)

    def validation_loss(self, wav: torch.Tensor, wav_hat: torch.Tensor) -> tuple[str, torch.Tensor]:
        term = next(t for t in self.terms if t.inputs == WAVEFORMS)
        return term.name, term.loss(wav, wav_hat)

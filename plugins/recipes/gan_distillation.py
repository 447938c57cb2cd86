"""DM-Codec's training step: an RVQ-GAN with representation distillation (registered as ``dm_codec_gan``).

One optimiser step, as the official code orders it:

1. **G forward once**: ``wav_hat, qout = G(wav)``; the ``teacher_features`` terms (distillation,
   eq. 1-3) on ``qout.layer_outputs`` against the cached teacher crops. Their projections W are
   part of the generator-side module (one DDP module, one optimiser: ``generator``).
2. **D step** on ``wav_hat.detach()``: the adversarial term's discriminator loss (eq. 7) over all
   sub-discriminators, backward, clip, step (:func:`tokenizer_bench.plugins.recipes.gan.discriminator_backward`).
3. **G step**: eq. 10, total = Σ weight·term over the config's ``losses`` (added in the canonical
   order of :func:`tokenizer_bench.core.training.recipe.build_loss_terms`) —
   ``waveforms`` terms (mel, waveform L1), ``quantizer`` terms (commitment), ``teacher_features``
   terms, and the discriminator terms (adversarial eq. 6, feature matching eq. 8), whose gradient
   with respect to ``wav_hat`` comes from
   :func:`tokenizer_bench.plugins.recipes.gan.generator_adversarial_backward`; backward, clip, step.

The discriminator terms join the total from ``trainer.discriminator_warmup_steps`` on. The
configuration this recipe reads (``teachers``, ``discriminators``, the GAN's ``trainer`` keys) is
declared in :mod:`.gan_distillation_config`; its teacher features come from the teacher cache
(:mod:`.teacher_cache`).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
from torch import nn

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import (
    DISCRIMINATOR_FEATURES,
    DISCRIMINATOR_LOGITS,
    QUANTIZER,
    TEACHER_FEATURES,
    WAVEFORMS,
    FeatureSource,
    QuantizerOutput,
    RecipeContext,
)
from tokenizer_bench.core.training.recipe import LossTerm, OptimizerGroup, StepResult, build_loss_terms, weighted_total
from tokenizer_bench.plugins.recipes.gan import (
    DiscriminatorSet,
    GanTerm,
    GradientMean,
    discriminator_backward,
    generator_adversarial_backward,
)
from tokenizer_bench.plugins.recipes.gan_distillation_config import GanDistillationConfig

#: Eq. 10's weights of a term whose config leaves ``weight`` out. The paper omits them; these are
#: the official trainer's (it puts the 45 on the first mel resolution and the 2 inside its feature
#: loss; here every loss returns its unweighted value and the log shows both).
DEFAULT_WEIGHTS: dict[str, float] = {
    "mel": 45.0,
    "waveform": 500.0,
    "commitment": 10.0,
    "distillation": 120.0,
    "feature_matching": 2.0,
    "adversarial": 1.0,
}


class GeneratorWithTeacherLosses(nn.Module):
    """The codec's generator and the ``teacher_features`` losses (they own the projections W), so
    every generator-side parameter is used inside one DDP forward.

    ``forward(wav, features)`` -> ``(wav_hat, qout, {term: (value, parts)})``.
    """

    def __init__(self, generator: nn.Module, teacher_losses: dict[str, nn.Module]) -> None:
        super().__init__()
        self.generator = generator
        self.teacher_losses = nn.ModuleDict(teacher_losses)

    def forward(
        self, wav: torch.Tensor, features: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, QuantizerOutput, dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]]]:
        wav_hat, qout = self.generator(wav)
        out = {name: loss(qout, features) for name, loss in self.teacher_losses.items()}
        return wav_hat, qout, out


class GanDistillationRecipe:
    """The recipe object (``core.interfaces.Recipe``). ``validate_on``: the ``waveforms`` term
    logged as ``valid/<term>`` (default: the first by name, e.g. ``mel`` before ``waveform``)."""

    #: the training config this recipe reads (core validates it: core/train_config.py)
    config_schema = GanDistillationConfig

    def __init__(self, cfg: GanDistillationConfig, validate_on: str | None = None) -> None:
        self.cfg = cfg
        self.specs = cfg.terms()
        inputs = {name: spec.inputs for name, spec in self.specs.items()}
        waveform_terms = sorted(n for n, i in inputs.items() if i == WAVEFORMS)
        if not waveform_terms:
            raise ConfigError("losses: list at least one reconstruction loss (a `waveforms` loss, e.g. a mel loss)")
        if validate_on is not None and validate_on not in waveform_terms:
            raise ConfigError(f"recipe.validate_on: {validate_on!r} is not a waveforms term of losses "
                              f"({', '.join(waveform_terms)})")
        self.validate_on = validate_on or waveform_terms[0]
        #: what a log line shows when there is no progress bar
        self.summary_keys = (f"loss/{self.validate_on}", "loss/distillation", "loss/adversarial", "loss/discriminator",
                             f"valid/{self.validate_on}")
        logits = [n for n, i in inputs.items() if i == DISCRIMINATOR_LOGITS]
        gan = logits + [n for n, i in inputs.items() if i == DISCRIMINATOR_FEATURES]
        if gan and not cfg.discriminators:
            raise ConfigError(f"losses.{'/'.join(gan)} use discriminator outputs but no discriminators are configured")
        if cfg.discriminators and len(logits) != 1:
            raise ConfigError(
                "discriminators are configured: list exactly one adversarial term in losses (a `discriminator_logits` "
                f"loss; the discriminators' own loss comes from it), got {len(logits)}"
            )
        self.roles = cfg.teacher_roles()

    # ------------------------------------------------------------------ setup
    def feature_roles(self) -> tuple[str, ...]:
        return self.roles

    def open_features(self, utterances: list, hop_length: int, *, is_main: bool, wait: Callable[[], None],
                      say: Callable[[str], None]) -> FeatureSource:
        """The teacher cache's features of ``utterances`` (built first where missing: :mod:`.teacher_cache`)."""
        from tokenizer_bench.plugins.recipes.teacher_cache.features import teacher_features

        return teacher_features(self.cfg, utterances, hop_length, is_main=is_main, wait=wait, say=say)

    def build(self, codec: Any, feature_dims: dict[str, int]) -> None:
        generator = codec.generator
        self.generator = generator
        self.discriminators = DiscriminatorSet.build(self.cfg.discriminators)
        student_dim = int(getattr(generator, "dimension", getattr(generator.quantizer, "dimension")))
        self.terms: list[LossTerm] = build_loss_terms(
            self.specs, DEFAULT_WEIGHTS,
            extra={TEACHER_FEATURES: {"student_dim": student_dim, "teacher_dims": dict(feature_dims)}},
        )
        self.weights = {t.name: t.weight for t in self.terms}
        self.teacher_terms = {t.name: t.loss for t in self.terms if t.inputs == TEACHER_FEATURES}
        self.gan_terms = [GanTerm(t.name, t.loss, t.weight) for t in self.terms
                          if t.inputs in (DISCRIMINATOR_LOGITS, DISCRIMINATOR_FEATURES)]
        self.adversarial = next((t.loss for t in self.terms if t.inputs == DISCRIMINATOR_LOGITS), None)
        self.bundle = GeneratorWithTeacherLosses(generator, self.teacher_terms).train()
        if self.discriminators is not None:
            self.discriminators.train()
            together = self.cfg.trainer.discriminator_passes == "together"
            self.groups = self.discriminators.groups(together)
        self.compiled: dict[str, Any] | None = None

    def modules(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"generator": self.generator, **self.teacher_terms}
        if self.discriminators is not None:
            out["discriminators"] = self.discriminators
        return out

    def optimizers(self) -> list[OptimizerGroup]:
        tc = self.cfg.trainer
        groups = [OptimizerGroup("g", "generator", self.bundle, tc.lr_generator)]
        if self.discriminators is not None:
            groups.append(
                OptimizerGroup("d", "discriminator", self.discriminators, tc.lr_discriminator, distributed=False))
        return groups

    def bind(self, context: RecipeContext) -> None:
        """After the trainer prepared the modules: compiled discriminators with ``trainer.compile``."""
        if self.cfg.trainer.compile and self.discriminators is not None:
            self.compiled = {k: torch.compile(m) for k, m in self.discriminators.discriminators.items()}

    # ------------------------------------------------------------------ the step
    def features(self, batch: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
        """The batch's teacher features of every role, their masks and the audio frame mask, on ``device``."""
        feats: dict[str, torch.Tensor] = {}
        for role in self.roles:
            feats[role] = batch[role].to(device, non_blocking=True)
            feats[f"{role}_mask"] = batch[f"{role}_mask"].to(device, non_blocking=True)
        if self.roles:
            feats["frame_mask"] = batch["frame_mask"].to(device, non_blocking=True)
        return feats

    def micro_step(self, trainer: RecipeContext, batch: dict[str, Any], sync: bool, accum: int) -> StepResult:
        acc, phase = trainer.accelerator, trainer.phase
        tc = self.cfg.trainer
        gen = trainer.prepared["g"]
        wav = batch["wav"].to(acc.device, non_blocking=True)
        with phase("teacher_features"):
            feats = self.features(batch, acc.device)
        if tc.compile:  # one graph for every batch size (a dropped bad item changes it), no recompile
            for t in (wav, *feats.values()):
                torch._dynamo.maybe_mark_dynamic(t, 0)
        disc_on = self.discriminators is not None and trainer.step >= tc.discriminator_warmup_steps
        scalars: dict[str, torch.Tensor] = {}  # kept on the device: the trainer reads them on log steps
        with contextlib.ExitStack() as stack:
            if not sync:  # gradient accumulation: no all-reduce until the last micro-batch
                stack.enter_context(acc.no_sync(gen))
            # 1. generator forward, once
            with phase("generator_forward"), acc.autocast():
                wav_hat, qout, teacher_out = gen(wav, feats)
            wav_hat = wav_hat[..., : wav.shape[-1]]
            # 2. discriminator step on the detached reconstruction
            if disc_on:
                # on the stepping micro-batch each discriminator's gradient all-reduce starts right
                # after its backward and overlaps the next discriminator's passes
                reduce = GradientMean(acc.num_processes) if sync else None
                scalars["loss/discriminator"] = discriminator_backward(
                    acc, self.discriminators, self.groups, self.adversarial, wav, wav_hat.detach(),
                    accum=accum, modules=self.compiled, phase=phase, reduce=reduce,
                )
                if reduce is not None:
                    with phase("d_optimizer"):
                        reduce.wait()
                        # "d": under fp16 only the discriminators' gradients are unscaled here; the
                        # generator's accumulated ones stay scaled until its own clip below
                        scalars["grad_norm/discriminator"] = trainer.clip(self.discriminators.parameters(), "d")
                        trainer.step_optimizer("d")
            # 3. generator step
            values: dict[str, torch.Tensor] = {}
            parts: dict[str, torch.Tensor] = {}
            with phase("g_losses"):
                x, y = wav.float(), wav_hat.float()
                for term in self.terms:
                    if term.inputs == WAVEFORMS:
                        values[term.name] = term.loss(x, y)
                    elif term.inputs == QUANTIZER:
                        values[term.name] = term.loss(qout)
                    elif term.inputs == TEACHER_FEATURES:
                        value, term_parts = teacher_out[term.name]
                        values[term.name] = value.float()
                        parts.update(term_parts)
            surrogate = None
            if disc_on and self.gan_terms:
                gan_values, grad_wav_hat = generator_adversarial_backward(
                    acc, self.discriminators, self.groups, self.gan_terms, wav, wav_hat,
                    modules=self.compiled, phase=phase,
                )
                values.update(gan_values)  # values only: their gradient is in grad_wav_hat
                surrogate = (wav_hat * grad_wav_hat).sum()
            values = {t.name: values[t.name] for t in self.terms if t.name in values}  # canonical order
            total, weighted = weighted_total(values, self.weights)
            with phase("g_backward"):
                acc.backward((total + surrogate if surrogate is not None else total) / accum)
            if sync:
                with phase("g_optimizer"):
                    scalars["grad_norm/generator"] = trainer.clip(gen.parameters(), "g")
                    trainer.step_optimizer("g")
        for k, v in values.items():
            scalars[f"loss/{k}"] = v.detach()
        for k, v in weighted.items():
            scalars[f"weighted/{k}"] = v.detach()
        for k, v in parts.items():
            scalars[f"loss/{k}"] = v.detach()
        scalars["loss/generator_total"] = total.detach()  # the trainer stops on a non-finite loss/* value
        for k, v in (qout.metrics or {}).items():
            scalars[f"codebook/{k}"] = v
        progress = {self.validate_on: scalars[f"loss/{self.validate_on}"]}
        return StepResult(scalars, wav.detach(), wav_hat.detach(), codes=qout.codes, progress=progress)

    def validation_loss(self, wav: torch.Tensor, wav_hat: torch.Tensor) -> tuple[str, torch.Tensor]:
        term = next(t for t in self.terms if t.name == self.validate_on)
        return term.name, term.loss(wav, wav_hat)


def register_recipes(register) -> None:
    register("dm_codec_gan", GanDistillationRecipe)

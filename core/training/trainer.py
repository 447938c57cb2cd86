"""The GAN trainer: config-composed, on CPU, one GPU or many (DDP through Hugging Face Accelerate).

One optimiser step, as the official code orders it:

1. **G forward once**: ``wav_hat, qout = G(wav)``; distillation losses on ``qout.layer_outputs``
   against the cached teacher crops (the projections W live in the distillation module, which is
   part of the generator-side DDP module and of the generator optimiser).
2. **D step** on ``wav_hat.detach()``: discriminator loss over all sub-discriminators, backward,
   clip, step. Real and generated audio go through a discriminator in one concatenated batch
   (every discriminator here is per-example, so this equals two passes and halves the launches).
3. **G step**: the discriminators run again, on ``wav`` without a graph and on ``wav_hat`` with
   one (their own parameters frozen for this pass); eq. 10 total = Σ weight·term over mel,
   waveform, commitment, distillation, adversarial and feature matching; backward, clip, step.

Memory (``trainer.discriminator_passes: each``, the default): both discriminator passes go one
discriminator at a time, each back-propagated before the next runs, so only one discriminator's
activations live next to the generator's. The GAN losses are sums over sub-discriminators (a mean
is a sum over a known count, passed as ``num_terms``), so the gradients are those of one joint
pass. In the G step each discriminator back-propagates into a detached copy of ``wav_hat``; the
summed gradient then enters the generator's single backward as ``(wav_hat * grad).sum()``. The
discriminators are not DDP-wrapped: their gradients are averaged across processes by one
all-reduce before their optimiser step, as DDP would.

Everything that decides the next step — weights of every network (discriminators included),
optimiser and scheduler states, RNG states of every process, and the data position — is in the
checkpoint, so ``--resume`` continues bit-for-bit on the same hardware. The running code
histogram of :mod:`.codebook_health` and the best validation result (``export_which: best``)
travel in it too.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..config import Component, dump_config
from ..errors import CheckpointError, ConfigError
from ..host_memory import release_host_memory, reuse_freed_memory
from ..io import torch_save_atomic, write_text_atomic
from ..train_config import TrainConfig
from . import checkpoint as ckpt
from .codebook_health import CodebookHealth, batch_histogram, layer_metrics
from .data import TrainData, build_train_data
from .logging import TrainingLogger
from .memory import checkpoint_submodules
from .modules import DiscriminatorSet, GeneratorWithDistillation, split_real_fake
from .optim import build_optimizer, build_scheduler, current_lr, decay_due

CONFIG_FILE = "config.yaml"
EXPORT_DIR = "tokenizer"
BEST_DIR = "best"  # <run>/best/step_<NNNNNNNN>.pt: the generator with the lowest validation loss


def _registry(kind: str):
    from ..plugins import get_registry

    return get_registry(kind)


def build_tokenizer(cfg: TrainConfig) -> Any:
    """A randomly initialised trainable tokenizer (its ``generator`` is trained) from ``cfg.model``."""
    m = cfg.model
    options: dict[str, Any] = {
        "encoder": m.encoder.to_dict(),
        "quantizer": m.quantizer.to_dict(),
        "decoder": m.decoder.to_dict(),
        "sample_rate": m.sample_rate,
        "semantic_dimension": m.semantic_dimension,
    }
    tok = _registry("tokenizers").get(m.tokenizer).factory(checkpoint=None, **options)
    gen = getattr(tok, "generator", None)
    if not isinstance(gen, nn.Module):
        raise ConfigError(
            f"model.tokenizer {m.tokenizer!r} is not trainable here: it has no `generator` torch module"
        )
    return tok


def build_discriminators(cfg: TrainConfig) -> DiscriminatorSet | None:
    if not cfg.discriminators:
        return None
    named: dict[str, nn.Module] = {}
    for comp in cfg.discriminators:
        name = comp.name
        k = 2
        while name in named:
            name, k = f"{comp.name}_{k}", k + 1
        named[name] = comp.build("discriminators")
    return DiscriminatorSet(named)


def build_distillation(cfg: TrainConfig, student_dim: int, dims: dict[str, int]) -> tuple[nn.Module | None, str | None]:
    """The distillation module (with its projections) and how the generator bundle calls it."""
    d = cfg.distillation
    keys = d.teachers
    if not keys:
        return None, None
    user = d.loss.kwargs if d.loss is not None else {}
    if len(keys) == 2:
        name = d.loss.name if d.loss is not None else "lm_sm_distillation"
        share = d.share_projection if d.share_projection is not None else dims["lm"] == dims["sm"]
        kwargs = dict(
            student_dim=student_dim, lm_dim=dims["lm"], sm_dim=dims["sm"],
            lm_target=d.lm.target, sm_target=d.sm.target,  # type: ignore[union-attr]
            lambda_sm=d.lambda_sm, lambda_lm=d.lambda_lm, scale=d.scale, share_projection=share,
        )
        mode = "lm_sm"
    else:
        key = keys[0]
        name = d.loss.name if d.loss is not None else "distillation"
        kwargs = dict(student_dim=student_dim, teacher_dim=dims[key], target=getattr(d, key).target)
        mode = key
    kwargs.update(user)
    return _registry("losses").build(name, **kwargs), mode


class Trainer:
    """Builds everything from a :class:`TrainConfig` and runs :meth:`fit`.

    ``features`` replaces the teacher cache with any ``utt_id -> {"lm": [T,D], ...}`` callable
    (tests, or features computed elsewhere).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        output_dir: str | Path | None = None,
        resume: bool = False,
        features: Callable[[str], dict] | None = None,
    ) -> None:
        from accelerate import Accelerator
        from datetime import timedelta

        from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs, set_seed

        self.cfg = cfg
        tcfg = cfg.trainer
        self.run_dir = Path(output_dir if output_dir is not None else tcfg.output_dir)
        handlers: list = [InitProcessGroupKwargs(timeout=timedelta(minutes=tcfg.distributed_timeout_minutes))]
        if cfg.model.semantic_dimension is not None:
            # the generator's `transform` head is not used by the distillation loss
            handlers.append(DistributedDataParallelKwargs(find_unused_parameters=True))
        # Accelerate sets up CPU-only multi-process (gloo) runs only when told to use the CPU.
        multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.accelerator = acc = Accelerator(
            cpu=tcfg.cpu or multi_cpu, mixed_precision=tcfg.mixed_precision, kwargs_handlers=handlers
        )
        self.is_main = acc.is_main_process
        if tcfg.num_threads is not None:
            torch.set_num_threads(tcfg.num_threads)
        self._check_run_dir(resume)
        _check_export_which(cfg)
        set_seed(cfg.seed)

        # ---------------------------------------------------------------- models
        self.tokenizer = build_tokenizer(cfg)
        generator = self.tokenizer.generator
        self.hop_length = int(getattr(generator, "hop_length"))
        self.discriminators_raw = build_discriminators(cfg)
        self.losses = self._build_losses()
        self.data: TrainData = build_train_data(
            cfg, hop_length=self.hop_length, num_replicas=acc.num_processes, rank=acc.process_index,
            is_main=self.is_main, wait=acc.wait_for_everyone, say=self.say, features=features,
        )
        if tcfg.num_threads is not None:
            torch.set_num_threads(tcfg.num_threads)  # again: data preparation may have changed it
        student_dim = int(getattr(generator, "dimension", getattr(generator.quantizer, "dimension")))
        distill, mode = build_distillation(cfg, student_dim, self.data.feature_dims)
        self.generator_raw = GeneratorWithDistillation(generator, distill, mode).train()
        if self.discriminators_raw is not None:
            self.discriminators_raw.train()

        # ---------------------------------------------------------------- optimisation
        total = self.total_steps()
        self.opt_g = build_optimizer(self.generator_raw.parameters(), tcfg.lr_generator, tcfg)
        self.sched_g = build_scheduler(self.opt_g, tcfg, total)
        self.opt_d = self.sched_d = None
        if self.discriminators_raw is not None:
            self.opt_d = build_optimizer(self.discriminators_raw.parameters(), tcfg.lr_discriminator, tcfg)
            self.sched_d = build_scheduler(self.opt_d, tcfg, total)
            # not DDP-wrapped: run per discriminator, gradients averaged in _average_gradients
            self.discriminators_raw.to(acc.device)
            self.gen, self.opt_g, self.opt_d = acc.prepare(self.generator_raw, self.opt_g, self.opt_d)
        else:
            self.gen, self.opt_g = acc.prepare(self.generator_raw, self.opt_g)
        self.disc_modules: dict[str, Any] | None = None  # compiled versions, when trainer.compile
        if self.discriminators_raw is not None:
            together = tcfg.discriminator_passes == "together"
            names = self.discriminators_raw.names()
            self.disc_groups: list[list[str]] = [names] if together else [[n] for n in names]
        checkpoint_submodules(generator, tcfg.activation_checkpointing)
        self.trim_host_memory = tcfg.release_host_memory and acc.device.type == "cpu"
        self.reuse_heap = tcfg.reuse_freed_memory and acc.device.type == "cpu"
        if tcfg.compile:
            self.gen = torch.compile(self.gen)
            if self.discriminators_raw is not None:
                self.disc_modules = {k: torch.compile(m) for k, m in self.discriminators_raw.discriminators.items()}
        # benchmarks set this to a ``name -> context manager`` timer to see the step's phases
        self.phase: Callable[[str], contextlib.AbstractContextManager] = lambda name: contextlib.nullcontext()

        # ---------------------------------------------------------------- codebook health
        size = getattr(self.tokenizer, "codebook_size", None)
        self.codebook_size: int | None = int(size) if size else None
        self.codebook_health: CodebookHealth | None = None
        if tcfg.codebook_window > 0 and self.codebook_size is not None:
            self.codebook_health = CodebookHealth(
                self.codebook_size, window=tcfg.codebook_window,
                collapse_perplexity=tcfg.codebook_collapse_perplexity, collapse_usage=tcfg.codebook_collapse_usage,
            )

        # ---------------------------------------------------------------- position
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.skipped_total = 0
        self.resumed_from: Path | None = None
        # {"key", "value", "step"} of the lowest validation loss so far, and the last validated step
        self.best_valid: dict[str, Any] | None = None
        self.last_valid_step: int | None = None
        if resume:
            found, state, skipped = ckpt.newest_readable_checkpoint(self.run_dir)
            if found is None and skipped:
                raise CheckpointError(f"--resume: no readable checkpoint in {self.run_dir / ckpt.CHECKPOINT_DIR}: "
                                      + "; ".join(why for _, why in skipped))
            if found is None:
                self.say(f"--resume: no checkpoint in {self.run_dir / ckpt.CHECKPOINT_DIR}; starting from step 0")
            else:
                for path, why in skipped:
                    aside = ckpt.set_aside(path) if self.is_main else path
                    self.say(f"--resume: skipped {path.name}, it is unreadable ({why}); moved to {aside.name}")
                self.load_checkpoint(found, state)
        if self.is_main:
            write_text_atomic(self.run_dir / CONFIG_FILE, dump_config(cfg))
            self._prune_best()  # a fresh run, or files of steps past the checkpoint we resume from

    # ------------------------------------------------------------------ setup helpers
    def say(self, text: str) -> None:
        if self.accelerator.is_main_process:
            logger = getattr(self, "logger", None)
            if logger is not None:
                logger.message(text)
            else:
                print(text, flush=True)

    def _check_run_dir(self, resume: bool) -> None:
        if not resume and ckpt.list_checkpoints(self.run_dir):
            raise ConfigError(
                f"{self.run_dir} already holds checkpoints of a run: pass --resume to continue it, or choose "
                "another --output-dir (trainer.output_dir)"
            )

    def _build_losses(self) -> dict[str, Any]:
        lc = self.cfg.losses
        out: dict[str, Any] = {}
        for key in ("mel", "waveform", "adversarial", "feature_matching"):
            comp: Component | None = getattr(lc, key)
            if comp is not None:
                out[key] = comp.build("losses")
        if ("adversarial" in out or "feature_matching" in out) and self.discriminators_raw is None:
            raise ConfigError("losses.adversarial/feature_matching are set but no discriminators are configured")
        if self.discriminators_raw is not None and "adversarial" not in out:
            raise ConfigError("discriminators are configured but losses.adversarial is not (the D loss comes from it)")
        if "mel" not in out and "waveform" not in out:
            raise ConfigError("losses: set at least one reconstruction loss (mel or waveform)")
        out["total"] = _registry("losses").build("weighted_sum", weights=lc.weights)
        return out

    # ------------------------------------------------------------------ checkpoints
    def state(self, codebook_health: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything a resumed run needs. ``codebook_health``: the code-histogram window summed
        over processes (``save_checkpoint``); default this process's own."""
        g = self.generator_raw
        state = {
            "format_version": 1,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "skipped_total": self.skipped_total,
            "world_size": self.accelerator.num_processes,
            "config": dump_config(self.cfg),
            "generator": g.generator.state_dict(),
            "distillation": g.distillation.state_dict() if g.distillation is not None else {},
            "optim_g": self.opt_g.state_dict(),
            "scheduler_g": self.sched_g.state_dict(),
            "validation": {"best": self.best_valid, "last_step": self.last_valid_step},
        }
        if self.codebook_health is not None:
            state["codebook_health"] = (
                codebook_health if codebook_health is not None else self.codebook_health.state_dict()
            )
        if self.discriminators_raw is not None:
            state["discriminators"] = self.discriminators_raw.state_dict()
            state["optim_d"] = self.opt_d.state_dict()
            state["scheduler_d"] = self.sched_d.state_dict()
        return state

    def save_checkpoint(self) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        health = self._codebook_state()  # a collective: every process takes part
        tmp = ckpt.begin_checkpoint(self.run_dir, self.step) if self.is_main else None
        acc.wait_for_everyone()
        if tmp is None:
            tmp = ckpt.temp_checkpoint_dir(self.run_dir, self.step)
        ckpt.write_rng(tmp, acc.process_index)
        acc.wait_for_everyone()
        final = None
        if self.is_main:
            final = ckpt.finish_checkpoint(tmp, self.state(health), self.step, self.cfg.trainer.keep_last)
            self._prune_best()
        acc.wait_for_everyone()
        return final

    def _codebook_state(self) -> dict[str, Any] | None:
        """The code-histogram window for a checkpoint, summed over processes (rank 0 restores the
        sum, the others restore the position only), so a resumed run logs the same window."""
        h = self.codebook_health
        if h is None:
            return None
        acc = self.accelerator
        if acc.num_processes == 1:
            return h.state_dict()
        return h.state_dict(reduce=lambda t: acc.reduce(t, reduction="sum"))

    def load_checkpoint(self, path: Path, state: dict[str, Any] | None = None) -> None:
        """Restore everything from ``path``; ``state``: its ``trainer.pt`` when already read."""
        state = ckpt.load_trainer_state(path) if state is None else state
        g = self.generator_raw
        ckpt.load_module_state(g.generator, state["generator"], "generator", path)
        if g.distillation is not None:
            ckpt.load_module_state(g.distillation, state["distillation"], "distillation projection", path)
        if self.discriminators_raw is not None:
            if "discriminators" not in state:
                raise CheckpointError(f"{path}: has no discriminators but the config trains some")
            ckpt.load_module_state(self.discriminators_raw, state["discriminators"], "discriminator", path)
            self.opt_d.load_state_dict(state["optim_d"])
            self.sched_d.load_state_dict(state["scheduler_d"], steps=int(state["step"]))
        self.opt_g.load_state_dict(state["optim_g"])
        self.sched_g.load_state_dict(state["scheduler_g"], steps=int(state["step"]))
        self._load_extras(state)
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.skipped_total = int(state.get("skipped_total", 0))
        if int(state.get("world_size", 1)) != self.accelerator.num_processes:
            self.say(
                f"note: checkpoint written by {state.get('world_size')} process(es), resuming on "
                f"{self.accelerator.num_processes}; the data order of the current epoch changes"
            )
        rng = ckpt.load_rng(path, self.accelerator.process_index)
        if rng is not None:
            ckpt.restore_rng(rng)
        self.resumed_from = path
        self.say(f"resumed from {path} (step {self.step}, epoch {self.epoch}, batch {self.batch_in_epoch})")

    def _load_extras(self, state: dict[str, Any]) -> None:
        """Validation bookkeeping and the code-histogram window (absent from older checkpoints)."""
        valid = state.get("validation") or {}
        self.best_valid = valid.get("best")
        self.last_valid_step = valid.get("last_step")
        h = self.codebook_health
        if h is not None and "codebook_health" in state:
            main = self.accelerator.process_index == 0
            if not h.load_state_dict(state["codebook_health"], self.accelerator.device, counts=main):
                self.say(f"note: the checkpoint's code-histogram window has other sizes; it refills over "
                         f"the next {h.window} batches")

    # ------------------------------------------------------------------ best generator
    def _best_path(self, step: int) -> Path:
        return self.run_dir / BEST_DIR / f"{ckpt.checkpoint_name(step)}.pt"

    def _keep_if_best(self, key: str, value: float) -> None:
        """``export_which: best``: write the generator when its validation loss is the lowest yet.

        One file per best step, written atomically; older ones are deleted only once a complete
        checkpoint records the newer best (``_prune_best``), so the file a checkpoint names exists.
        """
        best = self.best_valid
        if best is not None and best.get("key") == key and not value < float(best["value"]):
            return
        state = {k: v.detach().cpu() for k, v in self.generator_raw.generator.state_dict().items()}
        torch_save_atomic({"step": self.step, "key": key, "value": value, "generator": state},
                          self._best_path(self.step))
        self.best_valid = {"key": key, "value": float(value), "step": self.step}

    def _prune_best(self) -> None:
        """Delete best-generator files other than the one of ``best_valid`` (main process)."""
        folder = self.run_dir / BEST_DIR
        if not folder.is_dir():
            return
        keep = self._best_path(int(self.best_valid["step"])) if self.best_valid else None
        for path in [*folder.glob("step_*.pt"), *folder.glob(".step_*.tmp")]:  # .tmp: writes cut short by a kill
            if path != keep:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ training
    def total_steps(self) -> int:
        tc = self.cfg.trainer
        per_epoch = self.data.sampler.batches_per_epoch()
        by_epochs = (tc.max_epochs * per_epoch) // tc.gradient_accumulation_steps
        return min(by_epochs, tc.max_steps) if tc.max_steps is not None else by_epochs

    def _any_rank(self, flag: bool) -> bool:
        if self.accelerator.num_processes == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.accelerator.device)
        return bool(self.accelerator.reduce(t, reduction="sum").item() > 0)

    def _report_skipped(self, skipped: list) -> None:
        for uid, path, reason in skipped:
            self.skipped_total += 1
            self.say(f"skipped {uid} ({path}): {reason} [{self.skipped_total} skipped so far]")

    def fit(self) -> dict[str, Any]:
        """Train until ``max_steps``/``max_epochs``; returns a summary (final step, run paths)."""
        tc = self.cfg.trainer
        acc = self.accelerator
        total = self.total_steps()
        self.logger = TrainingLogger(
            self.run_dir, enabled=self.is_main, total_steps=total, start_step=self.step,
            tensorboard=tc.tensorboard, progress=tc.progress, sample_rate=self.cfg.model.sample_rate,
        )
        accum = tc.gradient_accumulation_steps
        sums: dict[str, float] = {}
        count = 0
        micro = 0
        last_saved = self.step if self.resumed_from is not None else -1
        t_start = time.monotonic()
        try:
            while self.epoch < tc.max_epochs and self.step < total:
                loader = self.data.loader(self.epoch, self.batch_in_epoch)
                for batch in loader:
                    self.batch_in_epoch += 1
                    self._report_skipped(batch["skipped"])
                    if self._any_rank(batch["wav"] is None):
                        continue  # every rank skips together, or DDP would wait forever
                    micro += 1
                    sync = micro % accum == 0
                    scalars, wav, wav_hat = self._micro_step(batch, sync, accum)
                    for k, v in scalars.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    if not sync:
                        continue
                    self.step += 1
                    self._schedule_step()
                    if self.step % tc.log_every == 0 or self.step == total:
                        self._log(sums, count)
                        sums, count = {}, 0
                    self.logger.advance(self.step, {"mel": scalars.get("loss/mel", float("nan"))})
                    if self.step % tc.audio_every == 0:
                        self.logger.audio(self.step, "audio/input", wav[0])
                        self.logger.audio(self.step, "audio/reconstruction", wav_hat[0])
                    if tc.valid_every and self.step % tc.valid_every == 0:
                        self._validate()
                    if self.step % tc.checkpoint_every == 0:
                        self.save_checkpoint()
                        last_saved = self.step
                    if self.step >= total:
                        break
                else:  # the epoch ran out
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    if decay_due(tc, epoch_ended=True):
                        self._decay()
                    continue
                break
            if tc.export_which == "best" and self.last_valid_step != self.step:
                self._validate()  # the final generator competes too
                last_saved = -1  # and the checkpoint must record that validation
            if self.step != last_saved:
                self.save_checkpoint()
        finally:
            self.logger.close()
        export_dir, export_step = None, None
        if tc.export:
            export_dir = Path(tc.export_dir) if tc.export_dir else self.run_dir / EXPORT_DIR
            if self.is_main:
                export_step = self._export(export_dir)
            acc.wait_for_everyone()
        return {
            "step": self.step,
            "epoch": self.epoch,
            "run_dir": str(self.run_dir),
            "export_dir": str(export_dir) if export_dir else None,
            "export_step": export_step,
            "best_valid": self.best_valid,
            "skipped": self.skipped_total,
            "seconds": time.monotonic() - t_start,
        }

    def _export(self, export_dir: Path) -> int:
        """``save_pretrained`` the last generator, or with ``export_which: best`` the best validated
        one (swapped in for the save and swapped back); returns the exported step."""
        tc = self.cfg.trainer
        gen = self.generator_raw.generator
        which, step, backup = "last", self.step, None
        if tc.export_which == "best":
            best = self._load_best()
            if best is not None:
                backup = {k: v.detach().clone() for k, v in gen.state_dict().items()}
                gen.load_state_dict(best["generator"])
                which, step = "best", int(best["step"])
        try:
            self.tokenizer.save_pretrained(export_dir)
        finally:
            if backup is not None:
                gen.load_state_dict(backup)
        detail = f"step {step}"
        if which == "best":
            detail += f", lowest valid/{self.best_valid['key']} {self.best_valid['value']:.5g}"
        self.say(f"exported the {which} generator ({detail}) to {export_dir} "
                 f"(load_tokenizer({self.cfg.model.tokenizer!r}, checkpoint=...))")
        return step

    def _load_best(self) -> dict[str, Any] | None:
        """The best generator's file, or None (with a warning: the last one is exported instead)."""
        if self.best_valid is None:
            self.say("WARNING: export_which: best, but no validation result was recorded; exporting the last generator")
            return None
        path = self._best_path(int(self.best_valid["step"]))
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            self.say(f"WARNING: cannot read the best generator {path} ({exc}); exporting the last generator")
            return None

    def _schedule_step(self) -> None:
        """After every optimiser step: the schedules move (warm-up, cosine), and an exponential
        decay falls here when ``lr_decay_every`` is a number of steps."""
        decay = decay_due(self.cfg.trainer, step=self.step)
        self.sched_g.step(decay=decay)
        if self.sched_d is not None:
            self.sched_d.step(decay=decay)

    def _decay(self) -> None:
        """An exponential decay event at an epoch end (``lr_decay_every: epoch``)."""
        self.sched_g.decay()
        if self.sched_d is not None:
            self.sched_d.decay()

    def _features(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        dev = self.accelerator.device
        feats: dict[str, torch.Tensor] = {}
        for key in self.cfg.distillation.teachers:
            feats[key] = batch[key].to(dev, non_blocking=True)
            mask = batch[f"{key}_mask"]
            if key == "lm" and not self.cfg.distillation.mask_silence:
                mask = batch["frame_mask"]
            feats[f"{key}_mask"] = mask.to(dev, non_blocking=True)
        return feats

    def _micro_step(self, batch: dict[str, Any], sync: bool, accum: int) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
        acc = self.accelerator
        tc = self.cfg.trainer
        phase = self.phase
        wav = batch["wav"].to(acc.device, non_blocking=True)
        with phase("teacher_features"):
            feats = self._features(batch)
        disc_on = self.discriminators_raw is not None and self.step >= tc.discriminator_warmup_steps
        scalars: dict[str, float] = {}
        with contextlib.ExitStack() as stack:
            if self.reuse_heap:  # ends by giving the step's free heap back (malloc_trim)
                stack.enter_context(reuse_freed_memory())
            if not sync:  # gradient accumulation: no all-reduce until the last micro-batch
                stack.enter_context(acc.no_sync(self.gen))
            # 1. generator forward, once
            with phase("generator_forward"), acc.autocast():
                wav_hat, qout, distill, distill_terms = self.gen(wav, feats)
            wav_hat = wav_hat[..., : wav.shape[-1]]
            if self.codebook_health is not None:
                self.codebook_health.update(qout.codes, _frame_mask(batch, qout.codes, acc.device))
            # 2. discriminator step on the detached reconstruction
            if disc_on:
                scalars["loss/discriminator"] = self._discriminator_backward(wav, wav_hat.detach(), accum)
                if sync:
                    with phase("d_optimizer"):
                        self._average_gradients(self.discriminators_raw.parameters())
                        scalars["grad_norm/discriminator"] = self._clip(self.discriminators_raw.parameters())
                        self.opt_d.step()
                        self.opt_d.zero_grad(set_to_none=True)
            # 3. generator step
            terms: dict[str, torch.Tensor] = {}
            with phase("g_losses"):
                x, y = wav.float(), wav_hat.float()
                if "mel" in self.losses:
                    terms["mel"] = self.losses["mel"](x, y)
                if "waveform" in self.losses:
                    terms["waveform"] = self.losses["waveform"](x, y)
                terms["commitment"] = qout.commit_loss.float()
                if distill is not None:
                    terms["distillation"] = distill.float()
            surrogate = None
            if disc_on:
                gan_terms, grad_wav_hat = self._generator_gan_backward(wav, wav_hat)
                terms.update(gan_terms)  # values only: their gradient is in grad_wav_hat
                surrogate = (wav_hat * grad_wav_hat).sum()
            total, weighted = self.losses["total"](terms)
            with phase("g_backward"):
                acc.backward((total + surrogate if surrogate is not None else total) / accum)
            if sync:
                with phase("g_optimizer"):
                    scalars["grad_norm/generator"] = self._clip(self.gen.parameters())
                    self.opt_g.step()
                    self.opt_g.zero_grad(set_to_none=True)
        if sync and self.trim_host_memory and not self.reuse_heap:
            with phase("release_host_memory"):
                release_host_memory()
        for k, v in terms.items():
            scalars[f"loss/{k}"] = float(v.detach())
        for k, v in weighted.items():
            scalars[f"weighted/{k}"] = float(v.detach())
        for k, v in distill_terms.items():
            scalars[f"loss/{k}"] = float(v.detach())
        scalars["loss/generator_total"] = float(total.detach())
        for k, v in (qout.metrics or {}).items():
            scalars[f"codebook/{k}"] = float(v)
        if not math.isfinite(scalars["loss/generator_total"]):
            raise FloatingPointError(
                f"non-finite generator loss at step {self.step + 1}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in scalars.items() if k.startswith("loss/"))
            )
        return scalars, wav.detach(), wav_hat.detach()

    def _num_terms(self, wav: torch.Tensor) -> tuple[int | None, int | None]:
        """Terms of the whole adversarial / feature-matching loss, for per-discriminator passes."""
        if len(self.disc_groups) == 1:
            return None, None
        counts = self.discriminators_raw.output_counts(wav[:1])
        return sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())

    def _discriminator_backward(self, wav: torch.Tensor, fake: torch.Tensor, accum: int) -> float:
        """Eq. 7 over all discriminators, back-propagated group by group; returns the loss value."""
        acc, phase = self.accelerator, self.phase
        n_logits, _ = self._num_terms(wav)
        both = torch.cat([wav, fake])
        value = 0.0
        for names in self.disc_groups:
            with phase("d_forward"), acc.autocast():
                logits, _ = self.discriminators_raw.run(names, both, self.disc_modules)
            with phase("d_loss"):
                real_l, fake_l, _, _ = split_real_fake(logits, [], wav.shape[0])
                loss = self.losses["adversarial"].discriminator_loss(
                    [x.float() for x in real_l], [x.float() for x in fake_l], **_maybe(num_terms=n_logits)
                )
            with phase("d_backward"):
                acc.backward(loss / accum)
            value += float(loss.detach())
            del logits, real_l, fake_l, loss
        return value

    def _generator_gan_backward(
        self, wav: torch.Tensor, wav_hat: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Adversarial (eq. 6) and feature-matching (eq. 8) terms, and the gradient of their weighted
        sum with respect to ``wav_hat``, one discriminator group at a time (parameters frozen)."""
        acc, phase = self.accelerator, self.phase
        weights = self.losses["total"].weights
        n_logits, n_fmaps = self._num_terms(wav)
        # under fp16 the partial backwards need the loss scale too; it is divided out again below
        scale = float(acc.scaler.get_scale()) if getattr(acc, "scaler", None) is not None else 1.0
        leaf = wav_hat.detach().requires_grad_(True)
        values = {"adversarial": torch.zeros((), device=wav.device)}
        if "feature_matching" in self.losses:
            values["feature_matching"] = torch.zeros((), device=wav.device)
        self.discriminators_raw.requires_grad_(False)
        try:
            for names in self.disc_groups:
                with phase("g_disc_forward"):
                    with torch.no_grad(), acc.autocast():
                        _, real_f = self.discriminators_raw.run(names, wav, self.disc_modules)
                    with acc.autocast():
                        fake_l, fake_f = self.discriminators_raw.run(names, leaf, self.disc_modules)
                with phase("g_losses"):
                    adv = self.losses["adversarial"].generator_loss(
                        [g.float() for g in fake_l], **_maybe(num_terms=n_logits)
                    )
                    part = weights["adversarial"] * adv
                    values["adversarial"] = values["adversarial"] + adv.detach()
                    if "feature_matching" in self.losses:
                        fm = self.losses["feature_matching"](
                            [[r.float() for r in f] for f in real_f], [[g.float() for g in f] for f in fake_f],
                            **_maybe(num_terms=n_fmaps),
                        )
                        part = part + weights["feature_matching"] * fm
                        values["feature_matching"] = values["feature_matching"] + fm.detach()
                with phase("g_disc_backward"):
                    torch.autograd.backward(part * scale, inputs=[leaf])
                del fake_l, fake_f, real_f, part
        finally:
            self.discriminators_raw.requires_grad_(True)
        return values, leaf.grad / scale

    def _average_gradients(self, params) -> None:
        """What DDP does for the discriminators: mean of every gradient over processes, one all-reduce."""
        world = self.accelerator.num_processes
        if world == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def _clip(self, params) -> float:
        max_norm = self.cfg.trainer.grad_clip
        norm = self.accelerator.clip_grad_norm_(list(params), max_norm if max_norm is not None else float("inf"))
        return float(norm) if norm is not None else float("nan")

    def _log(self, sums: dict[str, float], count: int) -> None:
        if count == 0:
            return
        acc = self.accelerator
        keys = sorted(sums)
        vals = torch.tensor([sums[k] / count for k in keys], dtype=torch.float64, device=acc.device)
        if acc.num_processes > 1:
            vals = acc.reduce(vals, reduction="mean")
        scalars = dict(zip(keys, vals.tolist()))
        scalars["lr/generator"] = current_lr(self.opt_g)
        if self.opt_d is not None:
            scalars["lr/discriminator"] = current_lr(self.opt_d)
        scalars["data/skipped_total"] = float(self.skipped_total)
        scalars.update(self._codebook_window())
        self.logger.log(self.step, self.epoch, scalars)

    def _codebook_window(self) -> dict[str, float]:
        """Usage/perplexity per layer over the last ``codebook_window`` batches (of all processes:
        a collective), and a warning when a layer collapses (once per episode, main process)."""
        h = self.codebook_health
        if h is None or h.total() is None:
            return {}
        hist = h.total()
        if self.accelerator.num_processes > 1:
            hist = self.accelerator.reduce(hist, reduction="sum")
        hist = hist.cpu()
        if self.is_main:
            for line in h.check(hist):
                self.say(line)
        return h.metrics(hist, prefix="codebook_window/")

    @torch.no_grad()
    def _validate(self) -> None:
        """Validation on the fixed crops of ``data.valid``, generator in eval mode (main process).

        Logs the mel (or waveform) loss as ``valid/<key>`` and each RVQ layer's code usage and
        perplexity over the whole validation set (``valid/codebook/layer<i>_*``: eval-mode codes,
        many more frames than one training batch). With ``export_which: best`` it keeps the
        generator whenever the loss is the lowest so far.
        """
        acc = self.accelerator
        ds = self.data.valid
        if ds is None:
            return
        if self.is_main:
            key = "mel" if "mel" in self.losses else "waveform"
            value, hist = self._valid_pass(ds, key)
            if value is not None:
                scalars = {f"valid/{key}": value}
                if hist is not None:
                    scalars.update(layer_metrics(hist.cpu(), prefix="valid/codebook/"))
                self.logger.log(self.step, self.epoch, scalars)
                if self.cfg.trainer.export_which == "best":
                    self._keep_if_best(key, value)
        self.last_valid_step = self.step
        acc.wait_for_everyone()

    def _valid_pass(self, ds, key: str) -> tuple[float | None, torch.Tensor | None]:
        """Mean ``key`` loss over the validation items and their summed code histogram ``[Q, K]``."""
        from ..data.dataset import collate

        dev = self.accelerator.device
        gen = self.generator_raw.generator
        was_training = gen.training
        gen.eval()
        total, n, hist = 0.0, 0, None
        try:
            bs = self.cfg.data.batch_size
            for start in range(0, len(ds), bs):
                batch = collate([ds[i] for i in range(start, min(len(ds), start + bs))])
                self._report_skipped(batch["skipped"])
                if batch["wav"] is None:
                    continue
                wav = batch["wav"].to(dev)
                wav_hat, qout = gen(wav)
                total += float(self.losses[key](wav.float(), wav_hat[..., : wav.shape[-1]].float())) * wav.shape[0]
                n += wav.shape[0]
                if self.codebook_size is not None:
                    h = batch_histogram(qout.codes, self.codebook_size, _frame_mask(batch, qout.codes, dev))
                    hist = h if hist is None else hist + h
        finally:
            gen.train(was_training)
        return (total / n if n else None), hist


def train(
    config: str | Path | TrainConfig,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    output_dir: str | Path | None = None,
    resume: bool = False,
    features: Callable[[str], dict] | None = None,
) -> dict[str, Any]:
    """Load a config (name, path or object), train, export; returns :meth:`Trainer.fit`'s summary.

    With an ``evaluation`` section the export is then scored through the benchmark harness on
    held-out speech (main process only); its figures are the summary's ``evaluation``.
    """
    from ..config import load_config

    cfg = config if isinstance(config, TrainConfig) else load_config(config, TrainConfig, overrides)
    trainer = Trainer(cfg, output_dir=output_dir, resume=resume, features=features)
    summary = trainer.fit()
    if cfg.evaluation is not None and summary.get("export_dir") and trainer.is_main:
        from .evaluation import evaluate_export

        summary["evaluation"] = evaluate_export(cfg, summary["export_dir"], summary["run_dir"], say=trainer.say)
    return summary


def _maybe(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments that are not None (losses of joint passes are called as before)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _frame_mask(batch: dict[str, Any], codes: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    """The batch's ``frame_mask [B, F]`` on ``device`` when it lines up with ``codes [B, Q, T]``
    (padding frames are left out of code histograms), else None (count every frame)."""
    mask = batch.get("frame_mask")
    if mask is None or tuple(mask.shape) != (codes.shape[0], codes.shape[-1]):
        return None
    return mask.to(device, non_blocking=True)


def _check_export_which(cfg: TrainConfig) -> None:
    """``export_which: best`` ranks generators by validation loss, so validation must run."""
    tc = cfg.trainer
    if tc.export_which != "best":
        return
    needs = (("data.valid", bool(cfg.data.valid)), ("trainer.valid_every", bool(tc.valid_every)))
    missing = [what for what, ok in needs if not ok]
    if missing:
        raise ConfigError(
            f"trainer.export_which: best keeps the generator with the lowest validation loss, but "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: add a validation set "
            "(data.valid) and how often to validate (trainer.valid_every), or use export_which: last"
        )

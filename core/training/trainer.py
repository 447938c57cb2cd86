"""The generic codec trainer: config-composed, on CPU, one GPU or many (DDP through Hugging Face Accelerate).

The trainer owns what every codec trainer needs: the loop over epochs and batches, gradient
accumulation, optimisers and learning-rate schedules, checkpoints and exact resume, logging,
validation and export. What one step does — which networks train, which losses, in which order —
is the *recipe* (``core.interfaces.Recipe``, named by the config's ``recipe`` or the tokenizer's
``default_recipe``), built from the ``recipes`` registry. The recipe declares its modules (saved by
name in checkpoints) and its optimiser groups (each with the trainer's schedule); the trainer
DDP-wraps the groups marked ``distributed`` and hands the recipe ``prepared``, ``optimizers``,
``clip`` and the ``phase`` profiling hook.

Everything that decides the next step — weights of every recipe module, optimiser and scheduler
states, RNG states of every process, and the data position — is in the checkpoint, so
``--resume`` continues bit-for-bit on the same hardware. The running code histogram of
:mod:`.codebook_health` and the best validation result (``export_which: best``) travel in it too.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from tokenizer_bench.core.config import Component, dump_config
from tokenizer_bench.core.errors import CheckpointError, ConfigError, TrainingError
from tokenizer_bench.core.host_memory import release_host_memory, reuse_freed_memory
from tokenizer_bench.core.interfaces import BindsContext, OpensFeatures, Recipe
from tokenizer_bench.core.io import torch_save_atomic, write_text_atomic
from tokenizer_bench.core.tokenizer import record_weights_hash
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import checkpoint as ckpt
from tokenizer_bench.core.training.clock import TrainingClock, log_scalars
from tokenizer_bench.core.training.codebook_health import CodebookHealth, batch_histogram, layer_metrics
from tokenizer_bench.core.training.data import TrainData, build_train_data
from tokenizer_bench.core.training.logging import TrainingLogger
from tokenizer_bench.core.training.memory import checkpoint_submodules
from tokenizer_bench.core.training.optim import build_optimizer, build_scheduler, current_lr, decay_due
from tokenizer_bench.core.training.recipe import OptimizerGroup, StepResult, build_recipe, check_trainable

CONFIG_FILE = "config.yaml"
EXPORT_DIR = "tokenizer"
BEST_DIR = "best"  # <run>/best/step_<NNNNNNNN>.pt: the generator with the lowest validation loss


def _registry(kind: str):
    from tokenizer_bench.core.plugins import get_registry

    return get_registry(kind)


def build_tokenizer(cfg: TrainConfig) -> Any:
    """A randomly initialised trainable tokenizer (``core.interfaces.TrainableCodec``) from
    ``cfg.model``: every key but ``tokenizer`` is a constructor argument of its factory."""
    m = cfg.model
    tok = _registry("tokenizers").get(m.tokenizer).factory(checkpoint=None, **m.factory_options())
    check_trainable(tok, m.tokenizer)
    return tok


class Trainer:
    """Builds everything from a :class:`TrainConfig` and runs :meth:`fit` (or :meth:`train_step`).

    ``features`` replaces the teacher cache with any ``utt_id -> {"lm": [T,D], ...}`` callable
    (tests, or features computed elsewhere).

    What a recipe uses is :class:`~tokenizer_bench.core.interfaces.RecipeContext` (the trainer is
    one): ``accelerator``, ``cfg``, ``step`` (optimiser steps so far), ``prepared[key]`` (the
    DDP-wrapped module of a distributed optimiser group), ``optimizers[key]``, :meth:`clip`,
    :meth:`step_optimizer`, :meth:`say`, and ``phase``: a ``name -> context manager`` profiling
    hook around the step's phases (benchmarks set it to a timer; default: no-op).
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
        handlers: list = [
            InitProcessGroupKwargs(timeout=timedelta(minutes=tcfg.distributed_timeout_minutes)),
            # no buffer broadcast from rank 0 before every forward: the only buffers that change in
            # training are the RVQ codebooks, which the quantizer keeps identical on every rank
            # itself (k-means broadcast, all-reduced EMA statistics); resending them (64 MB for the
            # paper model) each forward was redundant (tests/core/training/test_trainer.py checks
            # the ranks' codebooks stay bit-identical without it)
            DistributedDataParallelKwargs(broadcast_buffers=False),
        ]
        # Accelerate sets up CPU-only multi-process (gloo) runs only when told to use the CPU.
        multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.accelerator = acc = Accelerator(
            cpu=tcfg.cpu or multi_cpu, mixed_precision=tcfg.mixed_precision, kwargs_handlers=handlers
        )
        self.is_main = acc.is_main_process
        if acc.device.type == "cuda":
            # training crops have one shape, so cuDNN's per-shape algorithm search pays off once
            torch.backends.cudnn.benchmark = tcfg.cudnn_benchmark is not False
        if tcfg.num_threads is not None:
            torch.set_num_threads(tcfg.num_threads)
        self._check_run_dir(resume)
        _check_export_which(cfg)
        set_seed(cfg.seed)

        # ---------------------------------------------------------------- models
        self.tokenizer = build_tokenizer(cfg)
        generator = self.tokenizer.generator
        self.hop_length = int(getattr(generator, "hop_length"))
        if cfg.recipe is None:  # the tokenizer's default, recorded so the run's config says what trained it
            self.cfg = cfg = cfg.model_copy(update={"recipe": Component(name=self.tokenizer.default_recipe)})
            if TrainConfig.schema_for(cfg.model_dump()) is not type(cfg):
                # a tokenizer that declares its default recipe only on the built object: the config
                # was validated without that recipe's sections, so it is validated again with them
                self.cfg = cfg = TrainConfig.model_validate(cfg.model_dump())
        self.recipe: Recipe = build_recipe(cfg)
        self.data: TrainData = build_train_data(
            cfg, hop_length=self.hop_length, num_replicas=acc.num_processes, rank=acc.process_index,
            is_main=self.is_main, wait=acc.wait_for_everyone, say=self.say, features=features,
            feature_keys=tuple(self.recipe.feature_roles()),
            open_features=self.recipe.open_features if isinstance(self.recipe, OpensFeatures) else None,
        )
        if tcfg.num_threads is not None:
            torch.set_num_threads(tcfg.num_threads)  # again: data preparation may have changed it
        self.recipe.build(self.tokenizer, self.data.feature_dims)

        # ---------------------------------------------------------------- optimisation
        total = self.total_steps()
        if tcfg.max_minutes is not None and tcfg.lr_schedule == "cosine":
            self.say(f"note: trainer.lr_schedule cosine anneals over {total} steps (max_steps / max_epochs), not over "
                     "the time budget trainer.max_minutes: set max_steps to the steps the budget reaches")
        self.groups: list[OptimizerGroup] = list(self.recipe.optimizers())
        self.optimizers: dict[str, Any] = {}
        self.schedulers: dict[str, Any] = {}
        for g in self.groups:
            self.optimizers[g.key] = build_optimizer(g.module.parameters(), g.lr, tcfg)
            self.schedulers[g.key] = build_scheduler(self.optimizers[g.key], tcfg, total)
        for g in self.groups:
            if not g.distributed:
                g.module.to(acc.device)
        dist = [g for g in self.groups if g.distributed]
        prepared = acc.prepare(*[g.module for g in dist], *[self.optimizers[g.key] for g in self.groups])
        prepared = list(prepared) if isinstance(prepared, (list, tuple)) else [prepared]
        self.prepared: dict[str, Any] = {g.key: m for g, m in zip(dist, prepared[: len(dist)])}
        self.optimizers = {g.key: o for g, o in zip(self.groups, prepared[len(dist):])}
        if tcfg.compile and tcfg.activation_checkpointing:
            # A checkpointed part is traced as one unit; the LSTM inside the encoder and decoder
            # breaks the graph, and a break inside a checkpointed region sends the whole region back
            # to eager mode, so its convolutions were never compiled (36 uncompiled convolution
            # calls per step of the paper model, issue 27). Compiled, the parts are stored instead.
            self.say(f"WARNING: trainer.compile is on, so trainer.activation_checkpointing "
                     f"({', '.join(tcfg.activation_checkpointing)}) is turned off: its regions would run "
                     "uncompiled. Their activations are kept (more memory); to recompute them instead, "
                     "turn compile off")
        else:
            checkpoint_submodules(generator, tcfg.activation_checkpointing)
        self.trim_host_memory = tcfg.release_host_memory and acc.device.type == "cpu"
        self.reuse_heap = tcfg.reuse_freed_memory and acc.device.type == "cpu"
        if tcfg.compile:
            self.prepared = {k: torch.compile(m) for k, m in self.prepared.items()}
        self.phase: Callable[[str], contextlib.AbstractContextManager] = lambda name: contextlib.nullcontext()
        if isinstance(self.recipe, BindsContext):
            self.recipe.bind(self)

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
        # wall / CPU / audio seconds spent to reach this state (logged; trainer.max_minutes reads the wall clock)
        self.clock = TrainingClock()
        self.stopped_by: str | None = None  # "max_minutes" when the time budget ended the run
        self._logged_step: int | None = None  # the step of the last metrics line with the clock totals
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

    # ------------------------------------------------------------------ checkpoints
    def state(self, codebook_health: dict[str, Any] | None = None,
              totals: dict[str, float] | None = None) -> dict[str, Any]:
        """Everything a resumed run needs. ``codebook_health``: the code-histogram window summed
        over processes (``save_checkpoint``); default this process's own. ``totals``: the
        :class:`TrainingClock` totals over processes; default this process's."""
        state: dict[str, Any] = {
            "format_version": 1,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "skipped_total": self.skipped_total,
            "world_size": self.accelerator.num_processes,
            "config": dump_config(self.cfg),
            "validation": {"best": self.best_valid, "last_step": self.last_valid_step},
            "elapsed": totals if totals is not None else self.clock.totals(),
        }
        for name, module in self.recipe.modules().items():
            state[name] = module.state_dict()
        for g in self.groups:
            state[f"optim_{g.key}"] = self.optimizers[g.key].state_dict()
            state[f"scheduler_{g.key}"] = self.schedulers[g.key].state_dict()
        if self.codebook_health is not None:
            state["codebook_health"] = (
                codebook_health if codebook_health is not None else self.codebook_health.state_dict()
            )
        return state

    def save_checkpoint(self) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        health = self._codebook_state()  # a collective: every process takes part
        totals = self._clock_totals()  # a collective too
        tmp = ckpt.begin_checkpoint(self.run_dir, self.step) if self.is_main else None
        acc.wait_for_everyone()
        if tmp is None:
            tmp = ckpt.temp_checkpoint_dir(self.run_dir, self.step)
        ckpt.write_rng(tmp, acc.process_index)
        acc.wait_for_everyone()
        final = None
        if self.is_main:
            final = ckpt.finish_checkpoint(tmp, self.state(health, totals), self.step, self.cfg.trainer.keep_last)
            self._prune_best()
            logger = getattr(self, "logger", None)
            if logger is not None and self._logged_step != self.step:
                # what reaching this checkpoint cost (the learning curve's x axes), when no line of this step has it
                logger.log(self.step, self.epoch, log_scalars(totals), echo=False)
        acc.wait_for_everyone()
        return final

    def _clock_totals(self) -> dict[str, float]:
        """The :class:`TrainingClock` totals, CPU and audio seconds summed over processes (a collective)."""
        acc = self.accelerator
        if acc.num_processes == 1:
            return self.clock.totals()

        def total(values: list[float]) -> list[float]:
            t = torch.tensor(values, dtype=torch.float64, device=acc.device)
            return acc.reduce(t, reduction="sum").tolist()

        return self.clock.totals(total)

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
        for name, module in self.recipe.modules().items():
            if name not in state:
                raise CheckpointError(f"{path}: has no {name} state but the config trains it")
            ckpt.load_module_state(module, state[name], name, path)
        for g in self.groups:
            for what in (f"optim_{g.key}", f"scheduler_{g.key}"):
                if what not in state:
                    raise CheckpointError(f"{path}: has no {what} state but the config trains {g.label}")
            self.optimizers[g.key].load_state_dict(state[f"optim_{g.key}"])
            self.schedulers[g.key].load_state_dict(state[f"scheduler_{g.key}"], steps=int(state["step"]))
        self._load_extras(state)
        self.clock.load_state_dict(state.get("elapsed"))
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
        state = {k: v.detach().cpu() for k, v in self.tokenizer.generator.state_dict().items()}
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
            summary_keys=tuple(getattr(self.recipe, "summary_keys", ())),
        )
        accum = tc.gradient_accumulation_steps
        sums: dict[str, Any] = {}  # tensors on the device (or floats) until the log step reads them
        count = 0
        micro = 0
        last_saved = self.step if self.resumed_from is not None else -1
        first_step = self.step
        t_start = time.monotonic()
        self.clock.start()
        try:
            while self.epoch < tc.max_epochs and self.step < total and not self._budget_spent():
                loader = self.data.loader(self.epoch, self.batch_in_epoch)
                whole_epoch, usable = self.batch_in_epoch == 0, False
                for batch in loader:
                    self.batch_in_epoch += 1
                    self._report_skipped(batch["skipped"])
                    if self._any_rank(batch["wav"] is None):
                        continue  # every rank skips together, or DDP would wait forever
                    usable = True
                    micro += 1
                    wav = batch["wav"]
                    self.clock.add_audio(wav.shape[0] * wav.shape[-1] / self.cfg.model.sample_rate)
                    sync = micro % accum == 0
                    result = self._micro_step(batch, sync, accum)
                    scalars = result.scalars
                    for k, v in scalars.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    if not sync:
                        continue
                    self.step += 1
                    self._schedule_step()
                    last = self.step >= total or self._budget_spent()
                    if self.step % tc.log_every == 0 or last:
                        self._log(sums, count, first_step=self.step - (self.step - 1) % tc.log_every)
                        sums, count = {}, 0
                    self.logger.advance(self.step, result.progress)
                    if self.step % tc.audio_every == 0:
                        self.logger.audio(self.step, "audio/input", result.wav[0])
                        self.logger.audio(self.step, "audio/reconstruction", result.wav_hat[0])
                    if tc.valid_every and self.step % tc.valid_every == 0:
                        self._validate()
                    if self.step % tc.checkpoint_every == 0:
                        self.save_checkpoint()
                        last_saved = self.step
                    if last:
                        break
                else:  # the epoch ran out
                    if whole_epoch and not usable:  # the next epochs read the same unreadable items
                        raise TrainingError(
                            f"no training step ran in epoch {self.epoch}: every item was skipped as unreadable "
                            f"({self.skipped_total} skipped; see the 'skipped' lines above); nothing saved or exported")
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    if decay_due(tc, epoch_ended=True):
                        self._decay()
                    continue
                break
            if self.step == first_step and first_step < total and not self._budget_spent():
                raise TrainingError(  # (a resume whose time budget is already spent runs no step: that is done)
                    f"no training step ran: {self.skipped_total} item(s) skipped as unreadable and none was usable "
                    "(see the 'skipped' lines above); nothing saved or exported")  # e.g. max_epochs reached first
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
            "stopped_by": self.stopped_by,
            "elapsed": self.clock.totals(),
        }

    def _budget_spent(self) -> bool:
        """``trainer.max_minutes`` has passed on its clock (every process stops at the same step)."""
        tc = self.cfg.trainer
        if tc.max_minutes is None:
            return False
        if tc.max_minutes_clock == "cpu":  # a collective: every process gets the same sum
            spent = self._clock_totals()["cpu_seconds"] >= 60.0 * tc.max_minutes
        else:
            spent = self._any_rank(self.clock.over_budget(tc.max_minutes))
        if spent:
            if self.stopped_by is None:
                self.say(f"time budget trainer.max_minutes={tc.max_minutes:g} ({tc.max_minutes_clock} clock) reached "
                         f"at step {self.step} ({self.clock.wall_seconds() / 60:.2f} min of training, wall)")
            self.stopped_by = "max_minutes"
        return spent

    def _export(self, export_dir: Path) -> int:
        """``save_pretrained`` the last generator, or with ``export_which: best`` the best validated
        one (swapped in for the save and swapped back); returns the exported step."""
        tc = self.cfg.trainer
        gen = self.tokenizer.generator
        which, step, backup = "last", self.step, None
        if tc.export_which == "best":
            best = self._load_best()
            if best is not None:
                backup = {k: v.detach().clone() for k, v in gen.state_dict().items()}
                gen.load_state_dict(best["generator"])
                which, step = "best", int(best["step"])
        try:
            self.tokenizer.save_pretrained(export_dir)
            record_weights_hash(self.tokenizer, export_dir)
        finally:
            if backup is not None:
                gen.load_state_dict(backup)
        detail = f"step {step}"
        if which == "best" and self.best_valid is not None:
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
        for sched in self.schedulers.values():
            sched.step(decay=decay)

    def _decay(self) -> None:
        """An exponential decay event at an epoch end (``lr_decay_every: epoch``)."""
        for sched in self.schedulers.values():
            sched.decay()

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimiser step on ``batch`` (no accumulation); returns the step's scalars.

        The public entry for benchmarks and tests: the same step :meth:`fit` runs, without the
        loop's bookkeeping (the step counter, schedules, logs and checkpoints do not move).
        """
        scalars = self._micro_step(batch, sync=True, accum=1).scalars
        return dict(zip(scalars, _host_values(list(scalars.values()))))  # one host transfer

    def _micro_step(self, batch: dict[str, Any], sync: bool, accum: int) -> StepResult:
        """The recipe's micro-step inside the heap-reuse boundary; then the code statistics."""
        with contextlib.ExitStack() as stack:
            if self.reuse_heap:  # ends by giving the step's free heap back (malloc_trim)
                stack.enter_context(reuse_freed_memory())
            try:
                result = self.recipe.micro_step(self, batch, sync, accum)
            except FloatingPointError as exc:  # a recipe's own check of its losses
                raise self._diverged(str(exc)) from exc
        if sync:
            self._update_loss_scale()
        if sync and self.trim_host_memory and not self.reuse_heap:
            with self.phase("release_host_memory"):
                release_host_memory()
        if self.codebook_health is not None and result.codes is not None:
            self.codebook_health.update(result.codes, _frame_mask(batch, result.codes, self.accelerator.device))
        return result

    def _diverged(self, what: str) -> TrainingError:
        """The run stops at a non-finite loss, saving nothing (the weights may be NaN already)."""
        last = ckpt.latest_checkpoint(self.run_dir)
        where = f"--resume continues from {last.name}" if last is not None else "no checkpoint was saved yet"
        return TrainingError(f"training stopped: {what}; nothing saved ({where}; a lower learning rate or "
                             "trainer.grad_clip may help)")

    def clip(self, params: Any, optimizer: str | None = None) -> torch.Tensor:
        """Clip the gradients of ``params`` to ``trainer.grad_clip`` (global norm; none: no clipping)
        and return their norm before clipping, as a tensor on the device (no host sync; the log step
        reads it).

        ``optimizer`` is the key of the optimiser that owns ``params``. Under fp16 loss scaling the
        gradients are unscaled first, and *only that optimiser's*: Accelerate's ``clip_grad_norm_``
        unscales every prepared optimiser, so a discriminator clip in the middle of a GAN step with
        gradient accumulation would unscale the generator's accumulated gradients too, which the
        scaler forgets at its next update and the generator's clip then unscales again (its earlier
        micro-batches end up divided by the scale twice). With one optimiser ``None`` means it.
        """
        params = [p for p in params if p.grad is not None]
        acc = self.accelerator
        if getattr(acc, "scaler", None) is not None:
            if optimizer is None:
                if len(self.optimizers) != 1:
                    raise ValueError("Trainer.clip: under fp16 loss scaling name the optimiser whose gradients these "
                                     f"are (one of {', '.join(self.optimizers)}): only its gradients may be unscaled")
                (optimizer,) = self.optimizers
            acc.unscale_gradients(optimizer=self.optimizers[optimizer])
        max_norm = self.cfg.trainer.grad_clip
        if not params:
            return torch.full((), float("nan"))
        # torch's clip (what Accelerate's clip calls after its unscale for DDP / single-device runs);
        # DDP has already averaged the gradients, so every process computes the same norm
        return torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm is not None else float("inf")).detach()

    def step_optimizer(self, key: str) -> None:
        """Step the optimiser ``key`` and drop its gradients.

        Under fp16 loss scaling the scaler steps it (skipping the step on inf/NaN gradients) but
        updates its scale only once per optimiser step, after every optimiser has stepped
        (:meth:`_update_loss_scale`): a GAN step steps the discriminators *before* the generator's
        last backward, and a scale changed in between would scale that backward differently from the
        generator's earlier micro-batches. This is PyTorch's recipe for several optimisers with one
        ``GradScaler`` (one ``scaler.step`` per optimiser, one ``scaler.update`` per iteration).
        """
        opt = self.optimizers[key]
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is None:
            opt.step()
        else:
            scaler.step(getattr(opt, "optimizer", opt))  # the torch optimiser Accelerate wraps
            self._scale_update_due = True
        opt.zero_grad(set_to_none=True)

    def _update_loss_scale(self) -> None:
        """The fp16 loss scale's one update per optimiser step (see :meth:`step_optimizer`)."""
        if getattr(self, "_scale_update_due", False):
            self.accelerator.scaler.update()
            self._scale_update_due = False

    def _log(self, sums: dict[str, Any], count: int, first_step: int | None = None) -> None:
        """Log the means of the scalars summed since the last log step: the step's one host sync for
        them (the recipe keeps losses, norms and metrics on the device). A non-finite ``loss/*``
        mean stops the run here (:meth:`_diverged`), naming the steps it covers."""
        if count == 0:
            return
        acc = self.accelerator
        keys = sorted(sums)
        vals = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64, device=acc.device).reshape(())
                            for k in keys]) / count
        if acc.num_processes > 1:
            vals = acc.reduce(vals, reduction="mean")
        scalars = dict(zip(keys, vals.tolist()))
        bad = {k: v for k, v in scalars.items() if k.startswith("loss/") and not math.isfinite(v)}
        if bad:
            steps = f"step {self.step}" if first_step in (None, self.step) else f"steps {first_step}-{self.step}"
            raise self._diverged(
                f"non-finite loss in {steps}: " + ", ".join(
                    f"{k}={v:.4g}" for k, v in scalars.items() if k.startswith("loss/")))
        for g in self.groups:
            scalars[f"lr/{g.label}"] = current_lr(self.optimizers[g.key])
        scalars["data/skipped_total"] = float(self.skipped_total)
        scalars.update(self._codebook_window())
        scalars.update(log_scalars(self._clock_totals()))
        self.logger.log(self.step, self.epoch, scalars)
        self._logged_step = self.step

    def _codebook_window(self) -> dict[str, float]:
        """Usage/perplexity per layer over the last ``codebook_window`` batches (of all processes:
        a collective), and a warning when a layer collapses (once per episode, main process)."""
        h = self.codebook_health
        hist = h.total() if h is not None else None
        if h is None or hist is None:
            return {}
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

        Logs the recipe's validation loss as ``valid/<key>`` and each quantizer layer's code usage and
        perplexity over the whole validation set (``valid/codebook/layer<i>_*``: eval-mode codes,
        many more frames than one training batch). With ``export_which: best`` it keeps the
        generator whenever the loss is the lowest so far.
        """
        acc = self.accelerator
        ds = self.data.valid
        if ds is None:
            return
        if self.is_main:
            key, value, hist = self._valid_pass(ds)
            if value is not None:
                scalars = {f"valid/{key}": value}
                if hist is not None:
                    scalars.update(layer_metrics(hist.cpu(), prefix="valid/codebook/"))
                self.logger.log(self.step, self.epoch, scalars)
                if self.cfg.trainer.export_which == "best":
                    self._keep_if_best(key, value)
        self.last_valid_step = self.step
        acc.wait_for_everyone()

    def _valid_pass(self, ds) -> tuple[str, float | None, torch.Tensor | None]:
        """The recipe's validation loss (its key and mean over the validation items) and their
        summed code histogram ``[Q, K]``."""
        from tokenizer_bench.core.data.dataset import collate

        dev = self.accelerator.device
        gen = self.tokenizer.generator
        was_training = gen.training
        gen.eval()
        key, total, n, hist = "", 0.0, 0, None
        try:
            bs = self.cfg.data.batch_size
            for start in range(0, len(ds), bs):
                batch = collate([ds[i] for i in range(start, min(len(ds), start + bs))])
                self._report_skipped(batch["skipped"])
                if batch["wav"] is None:
                    continue
                wav = batch["wav"].to(dev)
                wav_hat, qout = gen(wav)
                key, value = self.recipe.validation_loss(wav.float(), wav_hat[..., : wav.shape[-1]].float())
                total += float(value) * wav.shape[0]
                n += wav.shape[0]
                if self.codebook_size is not None:
                    h = batch_histogram(qout.codes, self.codebook_size, _frame_mask(batch, qout.codes, dev))
                    hist = h if hist is None else hist + h
        finally:
            gen.train(was_training)
        return key, (total / n if n else None), hist


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
    from tokenizer_bench.core.config import load_config

    cfg = config if isinstance(config, TrainConfig) else load_config(config, TrainConfig, overrides)
    trainer = Trainer(cfg, output_dir=output_dir, resume=resume, features=features)
    summary = trainer.fit()
    if cfg.evaluation is not None and summary.get("export_dir") and trainer.is_main:
        from tokenizer_bench.core.training.evaluation import evaluate_export

        summary["evaluation"] = evaluate_export(cfg, summary["export_dir"], summary["run_dir"], say=trainer.say)
    return summary


def _host_values(values: list[Any]) -> list[float]:
    """Scalars (0-dim tensors on the device, or numbers) as floats, with one device-to-host copy."""
    if not values:
        return []
    tensors = [torch.as_tensor(v).detach().reshape(()).to(torch.float64) for v in values]
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        tensors = [t.cpu() for t in tensors]
    return torch.stack(tensors).tolist()


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

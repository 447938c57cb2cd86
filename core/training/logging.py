"""Training logs: a rich progress bar, TensorBoard scalars/audio, and a JSONL metrics file.

Only the main process logs. ``metrics.jsonl`` gets one JSON object per logged step (``step``,
``epoch``, ``time``, every loss term, lr, grad norms, codebook usage/perplexity), appended and
flushed line by line, so a killed run keeps everything up to its last logged step; on resume,
lines past the checkpoint's step are dropped first so the file never holds a step twice.

Codebook keys: ``codebook/layer<i>_{usage,perplexity}`` are the quantizer's per-batch values
averaged over the logging interval; ``codebook_window/layer<i>_*`` are measured on the code
histogram of the last ``trainer.codebook_window`` batches (all processes), and
``valid/codebook/layer<i>_*`` on the eval-mode codes of the whole validation set. Validation
records (``valid/*``) are separate lines of the same step.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

METRICS_FILE = "metrics.jsonl"


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records with ``step`` above ``step`` (logged after the checkpoint we resume from)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if int(rec.get("step", 0)) <= step:
            keep.append(line)
    from tokenizer_bench.core.io import write_text_atomic

    write_text_atomic(path, "".join(k + "\n" for k in keep))


class TrainingLogger:
    """Progress bar + JSONL + TensorBoard; every method is a no-op on non-main processes."""

    def __init__(
        self,
        run_dir: Path,
        *,
        enabled: bool,
        total_steps: int,
        start_step: int,
        tensorboard: bool = True,
        progress: bool | None = None,
        sample_rate: int = 16000,
        summary_keys: tuple[str, ...] = (),
    ) -> None:
        self.enabled = enabled
        self.summary_keys = summary_keys  # scalars of a log line without a progress bar (empty: every loss/valid one)
        self.run_dir = run_dir
        self.sample_rate = sample_rate
        self.total_steps = total_steps
        self.start_step = start_step
        self._t0 = time.monotonic()
        self._writer = None
        self._progress = None
        self._task = None
        self._fh = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / METRICS_FILE
        truncate_metrics(path, start_step)
        self._fh = open(path, "a", encoding="utf-8")
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start_step + 1)
        show = sys.stderr.isatty() if progress is None else progress
        if show:
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=total_steps, completed=start_step, rate="", info="")

    # ------------------------------------------------------------------ per step
    def steps_per_second(self, step: int) -> float:
        done = step - self.start_step
        dt = time.monotonic() - self._t0
        return done / dt if dt > 0 and done > 0 else 0.0

    def advance(self, step: int, info: dict[str, float] | None = None) -> None:
        if not self.enabled or self._progress is None or self._task is None:
            return
        sps = self.steps_per_second(step)
        text = " ".join(f"{k} {v:.4g}" for k, v in (info or {}).items())
        self._progress.update(self._task, completed=step, rate=f"{sps:.2f} it/s", info=text)

    def log(self, step: int, epoch: int, scalars: dict[str, float], *, echo: bool = True) -> None:
        """One metrics.jsonl line (and TensorBoard scalars); ``echo``: also the one-line summary
        printed when there is no progress bar."""
        if not self.enabled:
            return
        rec: dict[str, Any] = {"step": step, "epoch": epoch, "time": round(time.time(), 3)}
        rec["steps_per_s"] = round(self.steps_per_second(step), 4)
        for k, v in scalars.items():
            rec[k] = float(v) if math.isfinite(float(v)) else str(float(v))
        assert self._fh is not None
        self._fh.write(json.dumps(rec) + "\n")
        self._fh.flush()
        if self._writer is not None:
            for k, v in scalars.items():
                if math.isfinite(float(v)):
                    self._writer.add_scalar(k, float(v), step)
        if echo and self._progress is None:  # no bar (not a terminal): one line per logged step instead
            self.message(self._summary(step, epoch, scalars))

    def _summary(self, step: int, epoch: int, scalars: dict[str, float]) -> str:
        sps = self.steps_per_second(step)
        left = (self.total_steps - step) / sps if sps > 0 else float("nan")
        eta = f"{int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}" if math.isfinite(left) else "?"
        keys = self.summary_keys or tuple(sorted(k for k in scalars if k.startswith(("loss/", "valid/"))))
        parts = [f"{k.split('/')[-1] if k.startswith('loss/') else k} {scalars[k]:.4g}" for k in keys if k in scalars]
        return f"step {step}/{self.total_steps} epoch {epoch} | " + " ".join(parts) + f" | {sps:.2f} it/s ETA {eta}"

    def audio(self, step: int, name: str, wav: torch.Tensor) -> None:
        if not self.enabled or self._writer is None:
            return
        w = wav.detach().float().cpu().reshape(-1).clamp(-1, 1)
        self._writer.add_audio(name, w, step, sample_rate=self.sample_rate)

    def message(self, text: str) -> None:
        """A line for the user (printed above the progress bar)."""
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, markup=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

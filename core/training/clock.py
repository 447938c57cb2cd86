"""What a training has spent so far: wall time, process CPU time and seconds of audio seen.

Learning is compared per CPU-minute as well as per step (a step of a bigger batch or of a model
without discriminators costs another amount of time), so the trainer logs these totals with every
metrics line and at every checkpoint, and keeps them in the checkpoint: a resumed run continues the
totals of the state it resumes from (the work lost between that checkpoint and an interruption is
redone, and counted once). ``trainer.max_minutes`` is checked against the wall seconds, or with
``trainer.max_minutes_clock: cpu`` against the CPU seconds.

* wall seconds: ``time.monotonic`` of the training loop (steps, validation, checkpoints), rank 0;
* CPU seconds: ``time.process_time`` (every thread of the process), summed over processes;
* audio seconds: every micro-batch's ``batch x samples / sample_rate`` (the crop, padding
  included), summed over processes: batch x crop x accumulation x steps x processes.
"""

from __future__ import annotations

import time
from typing import Callable

KEYS = ("wall_seconds", "cpu_seconds", "audio_seconds")
#: the metrics.jsonl keys of the totals
LOG_KEYS = {"wall_seconds": "time/wall_s", "cpu_seconds": "time/cpu_s", "audio_seconds": "data/audio_seconds"}


class TrainingClock:
    """Totals since the run began: those restored from a checkpoint plus this session's."""

    def __init__(self) -> None:
        self.base = dict.fromkeys(KEYS, 0.0)  # the totals of the state this session started from
        self._audio = 0.0  # this process's audio seconds in this session
        self._wall0 = time.monotonic()
        self._cpu0 = time.process_time()

    def start(self) -> None:
        """Start this session's clocks (the training loop begins)."""
        self._wall0 = time.monotonic()
        self._cpu0 = time.process_time()
        self._audio = 0.0

    def add_audio(self, seconds: float) -> None:
        self._audio += float(seconds)

    def wall_seconds(self) -> float:
        """Wall seconds of training so far (this process's clock; ranks agree to within a step)."""
        return self.base["wall_seconds"] + time.monotonic() - self._wall0

    def totals(self, sum_over_processes: Callable[[list[float]], list[float]] | None = None) -> dict[str, float]:
        """The three totals; ``sum_over_processes`` (a collective) adds the CPU and audio seconds of
        every process (None: this process alone)."""
        mine = [time.process_time() - self._cpu0, self._audio]
        cpu, audio = sum_over_processes(mine) if sum_over_processes is not None else mine
        return {"wall_seconds": self.wall_seconds(), "cpu_seconds": self.base["cpu_seconds"] + cpu,
                "audio_seconds": self.base["audio_seconds"] + audio}

    def load_state_dict(self, state: dict[str, float] | None) -> None:
        """Continue from a checkpoint's totals (absent from older checkpoints: start at 0)."""
        self.base = {k: float((state or {}).get(k, 0.0)) for k in KEYS}
        self.start()

    def over_budget(self, max_minutes: float | None) -> bool:
        return max_minutes is not None and self.wall_seconds() >= 60.0 * max_minutes


def log_scalars(totals: dict[str, float]) -> dict[str, float]:
    """The totals under their metrics.jsonl keys."""
    return {LOG_KEYS[k]: round(v, 3) for k, v in totals.items()}

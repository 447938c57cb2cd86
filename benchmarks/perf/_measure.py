"""Measurement helpers shared by both sides of the peer comparison (ours and ``speechtokenizer``).

This module imports only the standard library, numpy and torch, because it also runs inside the
peer's isolated venv (``.venv-peer``), where this project is not installed. Both sides therefore
time and measure memory with the very same code.

* Wall time: ``time.perf_counter`` around each phase (CUDA is synchronised first when used).
* Memory: the process's resident set size. ``ru_maxrss`` is the kernel's peak over the whole
  process life, so each measurement runs in a fresh process; a background thread also samples
  ``/proc/self/statm`` every ``interval`` seconds to attribute peaks to phases (torch releases
  the GIL inside its kernels, so the sampler keeps running during heavy ops).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

GIB = 1024 ** 3
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size of this process (bytes)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # not Linux: fall back to the peak
        return peak_rss_bytes()


def kernel_counters() -> dict[str, float]:
    """Minor page faults and kernel (system) CPU seconds of this process so far: what fresh
    memory mappings cost, which wall and user time do not show apart."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"minor_faults": float(r.ru_minflt), "system_s": r.ru_stime}


def counters_delta(before: dict[str, float], calls: int = 1) -> dict[str, float]:
    """Per-call change of :func:`kernel_counters` since ``before``."""
    after = kernel_counters()
    return {k: (after[k] - before[k]) / max(1, calls) for k in before}


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports ``ru_maxrss`` in KiB)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) * (1 if sys.platform == "darwin" else 1024)


class RssSampler:
    """Samples RSS in a daemon thread; :meth:`phase` records the peak seen inside a ``with`` block."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self._peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.phase_peaks: dict[str, int] = {}

    def _run(self) -> None:
        while not self._stop.is_set():
            v = rss_bytes()
            if v > self._peak:
                self._peak = v
            time.sleep(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> int:
        """Start a new window; returns the current RSS."""
        self._peak = rss_bytes()
        return self._peak

    @property
    def peak(self) -> int:
        return max(self._peak, rss_bytes())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.reset()
        try:
            yield
        finally:
            self.phase_peaks[name] = max(self.phase_peaks.get(name, 0), self.peak)


class PhaseTimer:
    """Accumulates wall time per named phase for one step; ``sync`` is called before each reading."""

    def __init__(self, sync: Callable[[], None] | None = None, sampler: RssSampler | None = None) -> None:
        self.sync = sync or (lambda: None)
        self.sampler = sampler
        self.times: dict[str, float] = {}
        self.cpu_times: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.sync()
        t0, c0 = time.perf_counter(), time.process_time()
        if self.sampler is not None:
            with self.sampler.phase(name):
                yield
                self.sync()
        else:
            yield
            self.sync()
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0
        self.cpu_times[name] = self.cpu_times.get(name, 0.0) + time.process_time() - c0


def cuda_sync(device: str) -> Callable[[], None]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def summarize(values: list[float]) -> dict[str, float]:
    """Median, mean, min, max and (for n >= 2) the standard deviation of ``values``."""
    out = {"n": len(values), "median": statistics.median(values), "mean": statistics.fmean(values),
           "min": min(values), "max": max(values)}
    out["stdev"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def time_repeated(fn: Callable[[], Any], min_repeats: int, min_seconds: float, max_repeats: int = 50,
                  sync: Callable[[], None] | None = None) -> tuple[list[float], list[float]]:
    """Wall and process-CPU times of ``fn()``: at least ``min_repeats`` calls and ``min_seconds`` in
    total (capped at ``max_repeats``). CPU time (all threads) is less sensitive than wall time to
    other processes competing for the cores."""
    sync = sync or (lambda: None)
    times: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter() - start < min_seconds):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu


def time_codec(enc: Callable[[], Any], dec: Callable[[], Any], seconds: float, batch: int, min_repeats: int,
               min_seconds: float, max_repeats: int) -> dict[str, Any]:
    """Encode and decode timings of one codec, the same on both sides of the peer comparison: wall and
    CPU seconds per call (:func:`time_repeated`), kernel counters per call, the peak RSS of each phase
    and the median real-time factor (seconds per second of audio; ``seconds * batch`` of audio per call).
    ``dec`` reads what the last ``enc`` left, so encode runs first."""
    kernel: dict[str, dict[str, float]] = {}
    with RssSampler() as sampler:
        with sampler.phase("encode"):
            k0 = kernel_counters()
            t_enc, c_enc = time_repeated(enc, min_repeats, min_seconds, max_repeats)
            kernel["encode"] = counters_delta(k0, len(t_enc))
        with sampler.phase("decode"):
            k0 = kernel_counters()
            t_dec, c_dec = time_repeated(dec, min_repeats, min_seconds, max_repeats)
            kernel["decode"] = counters_delta(k0, len(t_dec))
    audio_s = seconds * batch
    return {"seconds": seconds, "batch": batch, "encode_s": t_enc, "decode_s": t_dec,
            "encode_cpu_s": c_enc, "decode_cpu_s": c_dec, "kernel_per_call": kernel,
            "encode_rtf": summarize([t / audio_s for t in t_enc])["median"],
            "decode_rtf": summarize([t / audio_s for t in t_dec])["median"],
            "phase_peak_rss": dict(sampler.phase_peaks)}


def fit_line(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least-squares ``y = slope * x + intercept`` and R² (cost growth with input length)."""
    n = len(xs)
    if n < 2:
        return {"slope": float("nan"), "intercept": float("nan"), "r2": float("nan")}
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx if sxx else float("nan")
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys))
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def total_ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def environment(device: str = "cpu") -> dict[str, Any]:
    """Machine and software facts recorded next to every measurement."""
    import numpy
    import torch

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_bytes": total_ram_bytes(),
        "platform": platform.platform(),
        "load_average": load_average(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def configure_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(int(threads))


def write_json(path: str | Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------- shared protocol

#: Phases of one training step, in order, on both sides. "discriminators" in reports is
#: d_forward + d_backward + g_disc_forward; "losses" is d_loss + g_losses; "backward" is
#: d_backward + g_backward; "optimizers" is d_optimizer + g_optimizer.
TRAIN_PHASES = ("teacher_features", "generator_forward", "d_forward", "d_loss", "d_backward", "d_optimizer",
                "g_disc_forward", "g_losses", "g_backward", "g_optimizer")


def group_phases(times: dict[str, float]) -> dict[str, float]:
    g = lambda *names: sum(times.get(n, 0.0) for n in names)  # noqa: E731
    return {
        "teacher_features": g("teacher_features"),
        "generator_forward": g("generator_forward"),
        "discriminators_forward": g("d_forward", "g_disc_forward"),
        "losses": g("d_loss", "g_losses"),
        "backward": g("d_backward", "g_disc_backward", "g_backward"),
        "optimizers": g("d_optimizer", "g_optimizer"),
        "d_update": g("d_forward", "d_loss", "d_backward", "d_optimizer"),
        "g_update": g("g_disc_forward", "g_losses", "g_disc_backward", "g_backward", "g_optimizer"),
        "total": sum(times.values()),
    }


def mark_codebooks_initialised(model: Any, seed: int = 0) -> int:
    """Give every EMA codebook (official buffer layout ``*._codebook.{inited,embed,embed_avg,cluster_size}``)
    random vectors and mark it initialised, so steady-state steps skip the one-off k-means init.

    Works on both implementations (same buffer names). Returns how many codebooks were set.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    count = 0
    for name, module in model.named_modules():
        if name.endswith("_codebook") and hasattr(module, "inited") and hasattr(module, "embed"):
            with torch.no_grad():
                emb = torch.randn(module.embed.shape, generator=g) * 0.1
                module.embed.copy_(emb.to(module.embed))
                module.embed_avg.copy_(emb.to(module.embed_avg))
                module.cluster_size.fill_(1.0)
                module.inited.fill_(1.0)
            count += 1
    return count


def teacher_feature_files(directory: Path, batch: int, frames_total: int, dim: int, fmt: str,
                          seed: int = 0) -> list[Path]:
    """Write ``batch`` random teacher-feature files ``[frames_total, dim]`` float32 (npy or safetensors)."""
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(batch):
        arr = rng.standard_normal((frames_total, dim), dtype=np.float32)
        if fmt == "npy":
            p = directory / f"feat{i}.npy"
            np.save(p, arr)
        else:
            import torch
            from safetensors.torch import save_file

            p = directory / f"feat{i}.safetensors"
            save_file({"sm": torch.from_numpy(arr)}, str(p))
        paths.append(p)
    return paths


def write_random_teacher_features(cfg: Any, audio_files: Any, dims: dict[str, int], seed: int = 0) -> None:
    """Random teacher features for every file of ``audio_files``, straight into the config's
    teacher-cache layout, so a training benchmark runs no teacher model (the trainer then finds a
    complete cache). ``dims``: feature size per teacher role."""
    import math

    import soundfile as sf
    import torch
    from safetensors.torch import save_file

    from tokenizer_bench.plugins.recipes.teacher_cache.command import hop_length_from_config
    from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache

    hop = hop_length_from_config(cfg)
    cache = TeacherCache.open(cfg, hop)
    g = torch.Generator().manual_seed(seed)
    for store in cache.stores.values():
        store.dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(audio_files):
        frames = math.ceil(sf.info(str(path)).frames / hop)
        if "lm" in cache.stores:
            save_file({"lm": torch.randn(frames, dims["lm"], generator=g).half(),
                       "lm_mask": torch.ones(frames, dtype=torch.bool)}, str(cache.stores["lm"].path(path.stem)))
        if "sm" in cache.stores:
            save_file({"sm": torch.randn(frames, dims["sm"], generator=g).half()},
                      str(cache.stores["sm"].path(path.stem)))


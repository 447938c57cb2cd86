"""GPU readiness check: one short command that exercises every CUDA path and measures it.

    python benchmarks/perf/gpu_check.py                      # on a GPU: <= 8 min on one H200
    python benchmarks/perf/gpu_check.py --dry-run --out DIR  # every path on CPU at toy size (< 2 min)

Why one script: a GPU is lent to this project only now and then, for minutes, so the check must
be ready before the machine is. It runs the paper's LM+SM (♠) configuration
(``configs/dm_codec_lm_sm.yaml``) on synthetic audio with random teacher features written in the
teacher-cache layout (no hub model, no teacher runs per step), through the trainer's own step
(``Trainer.train_step``, the step ``fit`` runs), and reports:

* ``train``: training steps in fp32, bf16 autocast (``trainer.mixed_precision: bf16``) and bf16 +
  ``trainer.compile: true``, at batch 6 x 3 s and at the largest batch that fits (doubling, OOM
  caught, ``torch.cuda.empty_cache``): step time (median after warm-up, CUDA synchronised),
  audio-hours trained per GPU-hour, peak CUDA memory (``max_memory_allocated``, reset per run);
  every generator submodule's output dtype under autocast (probed on the uncompiled module), the
  host reads of device values in one step (``core/training/host_sync.py``; on CUDA also the sync
  debug mode's count) and, compiled, what Dynamo compiled: frames, graphs, seconds, graph breaks
  and their reasons. A search row that fails for another reason than OOM is recorded as the
  search's end, and the rows measured before it stand;
* ``codec_rtf``: encode / decode real-time factor of the paper tokenizer at batch 1 and 16;
* ``teachers``: feature throughput of random-init HuBERT-base- and BERT-base-size teachers through
  the ``sm_hf`` / ``lm_hf`` plugins (fp32 and bf16 weights);
* ``compare``: one ``tokenizer-bench compare`` (its CLI, ``--device cuda``) of the random-init
  paper tokenizer with a random-init Whisper-medium-size ASR (``hf_whisper``, local folder);
* ``ddp``: the trainer under ``torch.distributed.run`` (NCCL on GPU, gloo on CPU): Accelerate's
  DDP wrapping, the process group, and (with 2+ devices) the discriminators' all-reduce.

Each section has its own time box (SIGALRM) inside a global ``--time-limit``; a failing or
timed-out section records its error and the script goes on. The summary lists every failure and
the exit status is 1 when any section failed or was not reached. Writes ``gpu_check.json`` and
``gpu_check.md`` into ``--out`` (default ``benchmarks/results``; the dry run needs ``--out`` so it
never overwrites real results).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import _measure as M

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[1] / "benchmarks" / "results"
PAPER_CONFIG = "dm_codec_lm_sm.yaml"
GENERATOR_GROUP = "g"  # the DM-Codec recipe's optimiser group of the generator side (Trainer.prepared)
SR = 16000

# Sizes of the real check (GPU) and of the dry run (CPU, toy model). Budgets are seconds.
FULL = dict(
    batch=6, seconds=3.0, warmup=2, steps=5, search_steps=2, max_batch=1024, teacher_dims={"lm": 768, "sm": 768},
    # 455 s in all. compile: one compile now (the dtype probe runs uncompiled, the doubled batch of the
    # search reuses the dynamic-batch graphs), so 30 s went to ddp (two full-model builds per rank,
    # a checkpoint and a --resume), which 50 s (38 s at --time-limit 360) was too short for (issue 27);
    # not yet a measured estimate
    budgets={"environment": 10, "train_fp32": 55, "train_bf16": 55, "train_bf16_compile": 150, "codec_rtf": 20,
             "teachers": 25, "compare": 60, "ddp": 80},
    rtf_seconds=10.0, rtf_batches=(1, 16), rtf_repeats=3, teacher_seconds=10.0, teacher_repeats=5,
    compare_utts=4, compare_seconds=4.0, asr_max_new_tokens=32, ddp_steps=2, time_limit=470.0,
)
DRY = dict(
    batch=2, seconds=0.25, warmup=1, steps=2, search_steps=1, max_batch=8, teacher_dims={"lm": 12, "sm": 10},
    simulated_oom_batch=8,  # the OOM recovery path runs on CPU too: batch 8 "does not fit"
    # compile: a cold inductor compile of the toy took 100-105 s on a 2-core CPU (2026-12-02)
    budgets={"environment": 10, "train_fp32": 30, "train_bf16": 30, "train_bf16_compile": 150, "codec_rtf": 10,
             "teachers": 15, "compare": 40, "ddp": 60},
    rtf_seconds=0.5, rtf_batches=(1, 2), rtf_repeats=1, teacher_seconds=1.0, teacher_repeats=1,
    compare_utts=2, compare_seconds=0.5, asr_max_new_tokens=4, ddp_steps=2, time_limit=400.0,
)
MODES = {  # section -> trainer overrides
    "train_fp32": {"mixed_precision": "no", "compile": False},
    "train_bf16": {"mixed_precision": "bf16", "compile": False},
    "train_bf16_compile": {"mixed_precision": "bf16", "compile": True},
}


class SectionTimeout(Exception):
    """Raised by SIGALRM when a section runs past its time box."""


@contextlib.contextmanager
def time_box(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM: lands between Python bytecodes, so a long
    C call finishes first). The main thread only, which is where sections run."""
    def fire(_sig, _frame):
        raise SectionTimeout(f"ran past its time box of {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------------ device helpers


def sync(device: Any) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def reset_peak(device: Any) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: Any) -> float | None:
    """Peak CUDA memory allocated since the last reset (GiB); None on CPU."""
    import torch

    if str(device).startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 1024**3, 3)
    return None


def free_memory(device: Any) -> None:
    import torch

    gc.collect()
    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()


def is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _nccl_version() -> str | None:
    """NCCL's version as torch reports it (a tuple in recent releases, an int in older ones)."""
    import torch

    try:
        v = torch.cuda.nccl.version()
    except Exception as exc:  # noqa: BLE001 - recorded
        return f"unavailable: {exc}"
    return ".".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)


def environment() -> dict[str, Any]:
    """Versions first, so a result file always says what it ran on."""
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(), "machine": platform.platform(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        # fp32 mode's matmuls/convs may use TF32 on the GPU: these say whether they do
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }
    for mod in ("transformers", "accelerate", "triton"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception as exc:  # noqa: BLE001 - recorded, not hidden
            env[mod] = f"not importable: {exc}"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_count=torch.cuda.device_count(), gpu_memory_gib=round(p.total_memory / 1024**3, 1),
                   capability=f"{p.major}.{p.minor}", bf16_supported=torch.cuda.is_bf16_supported(),
                   nccl=_nccl_version())
    return env


# ------------------------------------------------------------------------------ synthetic data


def write_corpus(root: Path, n: int, seconds: float) -> Path:
    """A LibriSpeech-style folder of ``n`` noisy tones (a little longer than the crop)."""
    import numpy as np
    import soundfile as sf

    folder = root / "corpus" / "1" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int((seconds + 0.25) * SR)) / SR
    for i in range(n):
        wav = 0.3 * np.sin(2 * np.pi * (120 + 30 * i) * t) + 0.03 * rng.standard_normal(t.shape)
        sf.write(folder / f"1-1-{i:04d}.flac", wav.astype(np.float32), SR, subtype="PCM_16")
    return root / "corpus"


def toy_model(data: dict[str, Any]) -> None:
    """Shrink the paper config in place to a toy of the same shape (dry run): same components,
    same losses and discriminator kinds, a few channels wide."""
    seanet = dict(n_filters=4, strides=[4, 4], dimension=16, lstm_layers=1, n_residual_layers=1)
    data["model"]["encoder"].update(seanet)
    data["model"]["decoder"].update(seanet)
    data["model"]["quantizer"].update(dimension=16, n_q=3, codebook_size=8, kmeans_iters=2)
    data["losses"]["distillation"]["sm"]["target"] = "rvq1:3"  # the paper's "average of all layers", at 3 layers
    data["discriminators"] = [
        {"name": "mpd", "periods": [2, 3], "channels": [4, 8]},
        {"name": "msd", "num_scales": 2, "channels": [4, 8, 8], "kernel_sizes": [5, 5, 3], "strides": [1, 2, 1],
         "groups": [1, 4, 1]},
        {"name": "mstft", "filters": 4, "n_ffts": [128, 64]},
    ]


def paper_config(work: Path, size: dict[str, Any], dry: bool, batch: int, trainer: dict[str, Any]):
    """The paper ♠ config on the synthetic corpus under ``work`` (toy-sized in the dry run)."""
    from tokenizer_bench.core.config import apply_overrides, compose, resolve_config, validate
    from tokenizer_bench.core.train_config import TrainConfig

    data, prov = compose(resolve_config(PAPER_CONFIG))
    if dry:
        toy_model(data)
    overrides = [
        f"data.train=[{work / 'corpus'}]", "data.format=librispeech", f"data.batch_size={batch}",
        f"data.segment_seconds={size['seconds']}", "data.num_workers=0", "data.download=null",
        f"teachers.cache_dir={work / 'cache'}", "trainer.checkpoint_every=1000000", "trainer.tensorboard=false",
        "trainer.progress=false", "trainer.export=false", "trainer.log_every=1000000",
        f"trainer.cpu={str(dry).lower()}",
    ] + [f"trainer.{k}={json.dumps(v if isinstance(v, (bool, int, float)) else str(v))}" for k, v in trainer.items()]
    if dry:
        overrides.append("trainer.num_threads=1")
    data = apply_overrides(data, prov, overrides)
    return validate(data, TrainConfig, prov, PAPER_CONFIG)


def tile(batch: dict[str, Any], n: int) -> dict[str, Any]:
    """The batch repeated along dim 0 to ``n`` items (the largest-batch search reuses one batch)."""
    import torch

    out: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            reps = math.ceil(n / v.shape[0])
            out[k] = v.repeat(reps, *([1] * (v.dim() - 1)))[:n]
        elif k == "ids":
            out[k] = (list(v) * math.ceil(n / max(len(v), 1)))[:n]
        else:
            out[k] = [] if k == "skipped" else v
    return out


# ------------------------------------------------------------------------------ sections


class Context:
    """What sections share: sizes, device, scratch folder, the global deadline."""

    def __init__(self, dry: bool, work: Path, time_limit: float) -> None:
        import torch

        self.dry = dry
        self.size = DRY if dry else FULL
        self.work = work
        self.device = "cpu" if dry else "cuda"
        self.deadline = time.monotonic() + time_limit
        # a shorter --time-limit shrinks every section's box alike, so every section still runs
        self.scale = min(1.0, time_limit / self.size["time_limit"])
        self.t0 = time.monotonic()
        self.corpus: Path | None = None
        self.export_dir: Path | None = None
        if not dry and not torch.cuda.is_available():
            raise SystemExit("gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); "
                             "on CPU run it with --dry-run --out DIR")

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _prepare_corpus(ctx: Context) -> Path:
    if ctx.corpus is None:
        n = max(ctx.size["batch"] * 2, 8)
        ctx.corpus = write_corpus(ctx.work / "train", n, ctx.size["seconds"])
    return ctx.corpus


DRY_COMPILE_BACKEND = "aot_eager"
DRY_COMPILE_NOTE = ("dry run: torch.compile with backend aot_eager (Dynamo tracing, graph breaks, AOTAutograd "
                    "forward+backward graphs, the trainer's compiled generator and discriminators) instead of "
                    "inductor, whose C++ code generation took over 90 s for the toy step on 2 CPU cores; the GPU "
                    "run uses inductor")


@contextlib.contextmanager
def compile_backend(backend: str | None) -> Iterator[None]:
    """Make the trainer's ``torch.compile(module)`` calls use ``backend`` (None: leave the default)."""
    import torch

    if backend is None:
        yield
        return
    original = torch.compile

    def patched(model=None, **kwargs):
        kwargs.setdefault("backend", backend)
        return original(model, **kwargs)

    torch.compile = patched
    try:
        yield
    finally:
        torch.compile = original


def fresh_accelerator_state() -> None:
    """Accelerate keeps one process-wide state (mixed precision included); each mode needs its own.
    ``_reset_state`` is what Accelerate's own tests use between configurations."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def zero_grads(trainer) -> None:
    """Drop every optimiser's gradients (before and after an out-of-memory trial)."""
    for opt in trainer.optimizers.values():
        opt.zero_grad(set_to_none=True)


def _time_steps(trainer, batch: dict[str, Any], warmup: int, steps: int) -> list[float]:
    """Wall seconds of ``steps`` optimiser steps (each CUDA-synchronised) after ``warmup`` ones."""
    dev = trainer.accelerator.device
    times = []
    for i in range(warmup + steps):
        sync(dev)
        t = time.perf_counter()
        trainer.train_step(batch)
        sync(dev)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times


def _step_row(b: int, seconds: float, times: list[float], dev: Any) -> dict[str, Any]:
    med = statistics.median(times)
    return {"batch": b, "step_s": round(med, 4), "step_s_all": [round(x, 4) for x in times],
            "audio_hours_per_gpu_hour": round(b * seconds / med, 2), "peak_cuda_gib": peak_gib(dev)}


def section_train(ctx: Context, name: str, budget_end: float) -> dict[str, Any]:
    """One precision mode: the paper step at the base batch, then doubling until OOM or time."""
    import torch

    from tokenizer_bench.core.training import Trainer

    s = ctx.size
    corpus = _prepare_corpus(ctx)
    run = ctx.work / name
    cfg = paper_config(ctx.work / "train", s, ctx.dry, s["batch"], {"output_dir": run, **MODES[name]})
    M.write_random_teacher_features(cfg, corpus.rglob("*.flac"), s["teacher_dims"])
    fresh_accelerator_state()
    t = time.perf_counter()
    with compile_backend(DRY_COMPILE_BACKEND if ctx.dry else None):
        trainer = Trainer(cfg)
    out: dict[str, Any] = {"overrides": MODES[name], "build_s": round(time.perf_counter() - t, 2),
                           "device": str(trainer.accelerator.device),
                           "autocast_dtype": str(getattr(trainer.accelerator, "mixed_precision", None))}
    if MODES[name]["compile"]:
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        # the default keeps the last 64 frames' metrics only (the tiny model alone compiles 64)
        torch._dynamo.utils.set_compilation_metrics_limit(100_000)
        torch._dynamo.utils.clear_compilation_metrics()
        out["compile_backend"] = DRY_COMPILE_BACKEND if ctx.dry else "inductor (torch.compile default)"
        if ctx.dry:
            out["compile_note"] = DRY_COMPILE_NOTE
    dev = trainer.accelerator.device
    try:
        batch = next(iter(trainer.data.loader(0, 0)))
        # warm-up: step 1 runs the RVQ k-means init (and the compilation, in compile mode)
        reset_peak(dev)
        t = time.perf_counter()
        trainer.train_step(batch)
        sync(dev)
        out["first_step_s"] = round(time.perf_counter() - t, 2)
        if MODES[name]["compile"]:
            out["compile"] = compile_figures()  # of the first step: what a new shape costs again
        out["dtypes"] = _probe_dtype(trainer, batch)
        out["host_syncs"] = _count_syncs(trainer, batch)
        reset_peak(dev)
        times = _time_steps(trainer, batch, s["warmup"] - 1, s["steps"])
        out["base"] = _step_row(s["batch"], s["seconds"], times, dev)
        out["largest"] = _largest_batch(trainer, batch, s, dev, budget_end, out["base"]["step_s"])
        if MODES[name]["compile"]:
            out["compile_after_search"] = compile_figures()  # recompiles of the search, if any
    finally:
        del trainer
        if MODES[name]["compile"]:
            torch._dynamo.reset()  # compiled graphs hold their own buffers; later sections run eagerly
        free_memory(dev)
    return out


def _first_tensor(x: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for y in x:
            t = _first_tensor(y)
            if t is not None:
                return t
    return None


def _probe_dtype(trainer, batch) -> dict[str, Any]:
    """dtypes under the trainer's autocast, from one extra forward without a graph, of the
    *uncompiled* module (so compile mode does not compile a no-grad variant for it): the decoder's
    own output, the generator's output as the losses and discriminators receive it (Accelerate
    converts a prepared model's outputs to fp32 under mixed precision), and every generator
    submodule's output (``submodules``; ``lstm``: the LSTMs' own outputs, which stay fp32 on CUDA)."""
    import torch

    seen: dict[str, Any] = {}
    subs: dict[str, str] = {}
    dev = trainer.accelerator.device
    generator = trainer.tokenizer.generator

    def record(name: str):
        def hook(_module, _inputs, output) -> None:  # returns None: a hook's return value replaces the output
            t = _first_tensor(output)
            if t is not None:
                subs.setdefault(name, str(t.dtype))
        return hook

    hooks = [m.register_forward_hook(record(n or "generator")) for n, m in generator.named_modules()]
    module = trainer.prepared[GENERATOR_GROUP]
    module = getattr(module, "_orig_mod", module)  # the prepared module under torch.compile's wrapper
    try:
        with torch.no_grad(), trainer.accelerator.autocast():
            wav_hat, qout, *_ = module(batch["wav"].to(dev), trainer.recipe.features(batch, dev))
    finally:
        for h in hooks:
            h.remove()
    seen["decoder"] = subs.get("decoder")
    seen["generator_output"] = str(wav_hat.dtype)
    seen["rvq_quantized"] = str(qout.quantized.dtype)
    lstms = {n for n, m in generator.named_modules() if isinstance(m, torch.nn.LSTM)}
    seen["lstm"] = {n: d for n, d in subs.items() if n in lstms}
    counts: dict[str, int] = {}
    for d in subs.values():
        counts[d] = counts.get(d, 0) + 1
    seen["submodule_dtype_counts"] = counts
    seen["submodules"] = subs
    return seen


def _count_syncs(trainer, batch) -> dict[str, Any]:
    """Host reads of device values in one training step (after the first, which runs the k-means
    init): the Python-level count on any device, and on CUDA the sync debug mode's count too."""
    from tokenizer_bench.core.training.host_sync import count_cuda_syncs, count_host_reads

    with count_host_reads() as reads, count_cuda_syncs() as cuda:
        trainer.train_step(batch)
    return {"python_reads": reads.total, "sites": reads.describe(),
            "cuda_syncs": len(cuda) if torch_cuda() else None, "cuda_sync_messages": sorted(set(cuda))[:20]}


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def compile_figures() -> dict[str, Any]:
    """What Dynamo compiled since the last reset: frames, graphs, seconds, graph breaks by reason."""
    import torch

    metrics = torch._dynamo.utils.get_compilation_metrics()
    counters = torch._dynamo.utils.counters
    breaks = dict(sorted(counters["graph_break"].items(), key=lambda kv: -kv[1]))
    return {
        "frames_compiled": len(metrics),
        "graphs": int(counters["stats"].get("unique_graphs", 0)),
        "compile_s": round(sum(m.entire_frame_compile_time_s or 0.0 for m in metrics), 2),
        "graph_breaks": sum(breaks.values()),
        "break_reasons": {k[:200]: v for k, v in list(breaks.items())[:15]},
    }


def _largest_batch(trainer, batch, s, dev, budget_end: float, base_step: float) -> dict[str, Any]:
    """Double the batch while it fits (OOM caught, cache emptied) and the time box allows."""
    import torch

    b, step, best, stop = s["batch"], base_step, None, "max_batch reached"
    while b * 2 <= s["max_batch"]:
        nb = b * 2
        simulated_oom = bool(s.get("simulated_oom_batch")) and nb >= s["simulated_oom_batch"]
        # a trial = search_steps + 1 steps at about (nb / b) x the last step time (compile: recompile too);
        # the dry run's simulated OOM fails at once, so its trial always runs (and with it the recovery path)
        if not simulated_oom and time.monotonic() + 3 * step * (nb / b) * (s["search_steps"] + 1) > budget_end:
            stop = f"time box (next trial, batch {nb}, would not finish)"
            break
        big = tile(batch, nb)
        zero_grads(trainer)
        free_memory(dev)
        reset_peak(dev)
        oom = False
        try:
            if simulated_oom:
                raise torch.cuda.OutOfMemoryError(f"simulated by the dry run at batch {nb}")
            times = _time_steps(trainer, big, 1, s["search_steps"])
        except SectionTimeout:  # the section's results so far stand; the search ends here
            stop = f"time box hit at batch {nb} (compile mode: recompiling for the new shape counts too)"
            break
        except Exception as exc:  # noqa: BLE001 - only OOM ends the search; anything else is a failure
            if "SectionTimeout" in repr(exc):  # raised inside inductor's compile, wrapped by it
                stop = f"time box hit at batch {nb} (compile mode: recompiling for the new shape counts too)"
                break
            if not is_oom(exc):  # recorded on the search, the rows measured so far stand
                stop = f"failed at batch {nb}: {type(exc).__name__}: {str(exc)[:300]}"
                del big
                zero_grads(trainer)
                free_memory(dev)
                break
            oom = True
        if oom:  # outside the except block: the traceback (and the tensors its frames hold) is gone
            stop = f"out of memory at batch {nb}" + (" (simulated: dry run)" if s.get("simulated_oom_batch") else "")
            del big
            zero_grads(trainer)
            free_memory(dev)
            break
        best = _step_row(nb, s["seconds"], times, dev)
        b, step = nb, best["step_s"]
        del big
    return {"row": best, "stopped": stop}


def _init_codebooks(tok, device: str, seconds: float) -> None:
    """One training-mode forward so the RVQ codebooks are k-means initialised (else encode warns)."""
    import torch

    gen = tok.generator
    gen.train()
    with torch.no_grad():
        gen(0.1 * torch.randn(2, 1, int(seconds * SR), device=device))
    gen.eval()


def paper_tokenizer(ctx: Context):
    """A random-init paper tokenizer on the device, codebooks initialised (toy-sized in the dry run)."""
    from tokenizer_bench.core.training.trainer import build_tokenizer

    cfg = paper_config(ctx.work / "train", ctx.size, ctx.dry, ctx.size["batch"], {"output_dir": ctx.work / "tok"})
    tok = build_tokenizer(cfg).to(ctx.device)
    _init_codebooks(tok, ctx.device, max(ctx.size["seconds"], 0.25))
    return tok


def section_codec_rtf(ctx: Context, budget_end: float) -> dict[str, Any]:
    """Encode and decode seconds per second of audio (RTF < 1 = faster than real time)."""
    import torch

    s = ctx.size
    tok = paper_tokenizer(ctx)
    n = int(s["rtf_seconds"] * SR)
    rows = []
    for b in s["rtf_batches"]:
        wav = 0.1 * torch.randn(b, 1, n, device=ctx.device)
        codes = tok.encode(wav)  # warm-up
        tok.decode(codes)
        enc, dec = [], []
        reset_peak(ctx.device)
        for _ in range(s["rtf_repeats"]):
            sync(ctx.device)
            t = time.perf_counter()
            codes = tok.encode(wav)
            sync(ctx.device)
            enc.append(time.perf_counter() - t)
            t = time.perf_counter()
            tok.decode(codes)
            sync(ctx.device)
            dec.append(time.perf_counter() - t)
        audio = b * s["rtf_seconds"]
        rows.append({"batch": b, "seconds_per_utterance": s["rtf_seconds"], "codes_shape": list(codes.shape),
                     "encode_rtf": round(statistics.median(enc) / audio, 5),
                     "decode_rtf": round(statistics.median(dec) / audio, 5), "peak_cuda_gib": peak_gib(ctx.device)})
    ctx.export_dir = ctx.work / "export"
    tok.to("cpu").save_pretrained(ctx.export_dir)  # the compare section scores this tokenizer
    del tok
    free_memory(ctx.device)
    return {"rows": rows}


def _teacher_folders(ctx: Context) -> tuple[Path, Path]:
    """Random-init HuBERT-base / BERT-base-size folders (toy-sized in the dry run); no download."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer, HubertConfig, HubertModel

    from tokenizer_bench.plugins.teachers import _testing as T

    sm, lm = ctx.work / "hubert", ctx.work / "bert"
    if ctx.dry:
        return T.make_tiny_hubert(sm), T.make_tiny_bert(lm)
    torch.manual_seed(0)
    HubertModel(HubertConfig()).save_pretrained(sm)  # HubertConfig() is hubert-base: 12 x 768
    T._feature_extractor().save_pretrained(sm)
    BertTokenizer(vocab={w: i for i, w in enumerate(T.WORDPIECE_VOCAB)}, do_lower_case=True).save_pretrained(lm)
    BertModel(BertConfig(vocab_size=len(T.WORDPIECE_VOCAB))).save_pretrained(lm)  # bert-base: 12 x 768
    return sm, lm


def section_teachers(ctx: Context, budget_end: float) -> dict[str, Any]:
    """Teacher features per second through the ``sm_hf`` / ``lm_hf`` plugins, fp32 and bf16."""
    import torch

    from tokenizer_bench.core.plugins import get_registry

    s = ctx.size
    sm_dir, lm_dir = _teacher_folders(ctx)
    reg = get_registry("teachers")
    wav = 0.1 * torch.randn(int(s["teacher_seconds"] * SR))
    frames = int(s["teacher_seconds"] * 50)
    words = ("the cat sat on the mat and it belly stuff into his world hello you " * 3).split()
    text = " ".join(words[:40])
    out: dict[str, Any] = {"audio_seconds": s["teacher_seconds"], "words": len(text.split())}
    for dtype in ("float32", "bfloat16"):
        # device "auto" (the config default): cuda when visible, so the teachers' device choice is checked too
        sm = reg.build("sm_hf", model=str(sm_dir), device="auto", dtype=dtype)
        lm = reg.build("lm_hf", model=str(lm_dir), device="auto", dtype=dtype)
        sm.encode(wav, frames, 0.02)
        lm.encode(text)  # warm-up
        sm_t, lm_t, tokens = [], [], 0
        reset_peak(ctx.device)
        for _ in range(s["teacher_repeats"]):
            sync(ctx.device)
            t = time.perf_counter()
            feats = sm.encode(wav, frames, 0.02)
            sync(ctx.device)
            sm_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            tf = lm.encode(text)
            sync(ctx.device)
            lm_t.append(time.perf_counter() - t)
            tokens = int(tf.features.shape[0])
        out[dtype] = {
            "device": str(sm.device), "model_dtype": str(next(sm.model.parameters()).dtype),
            "sm_params": sum(p.numel() for p in sm.model.parameters()), "sm_dim": int(feats.shape[-1]),
            "sm_audio_seconds_per_second": round(s["teacher_seconds"] / statistics.median(sm_t), 1),
            "lm_params": sum(p.numel() for p in lm.model.parameters()), "lm_tokens": tokens,
            "lm_tokens_per_second": round(tokens / statistics.median(lm_t), 1),
            "peak_cuda_gib": peak_gib(ctx.device),
        }
        del sm, lm
        free_memory(ctx.device)
    return out


def make_whisper(folder: Path, dry: bool) -> Path:
    """A random-init Whisper with a byte-level vocabulary (medium-size body on GPU, toy in the dry
    run) saved with ``save_pretrained``: the ``hf_whisper`` backend loads it like a hub folder."""
    import torch
    from transformers import (WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration,
                              WhisperProcessor, WhisperTokenizer)
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|translate|>",
                "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    specials += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    for sp in specials:
        vocab[sp] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    eot = "<|endoftext|>"
    tok = WhisperTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), unk_token=eot, bos_token=eot,
                           eos_token=eot, pad_token=eot, additional_special_tokens=specials[1:9])
    out = folder / "model"
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tok).save_pretrained(out)
    body = (dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                 encoder_ffn_dim=16, decoder_ffn_dim=16) if dry else
            dict(d_model=1024, encoder_layers=24, decoder_layers=24, encoder_attention_heads=16,
                 decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096))  # whisper-medium
    torch.manual_seed(0)
    # built on the GPU when there is one: initialising 760 M parameters on the CPU alone takes long
    device = "cpu" if dry or not torch.cuda.is_available() else "cuda"
    cfg = WhisperConfig(vocab_size=len(vocab), num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
                        decoder_start_token_id=vocab["<|startoftranscript|>"], eos_token_id=vocab[eot],
                        pad_token_id=vocab[eot], bos_token_id=vocab[eot], **body)
    with torch.device(device):
        model = WhisperForConditionalGeneration(cfg)
    model.save_pretrained(out)
    del model
    gen = json.loads((out / "generation_config.json").read_text())
    gen.pop("_from_model_config", None)
    gen.update(no_timestamps_token_id=vocab["<|notimestamps|>"], is_multilingual=False)
    (out / "generation_config.json").write_text(json.dumps(gen))
    return out


def section_compare(ctx: Context, budget_end: float) -> dict[str, Any]:
    """``tokenizer-bench compare`` through its CLI on the device, random-init tokenizer and ASR."""
    import numpy as np
    import soundfile as sf

    s = ctx.size
    if ctx.export_dir is None:  # codec_rtf did not run or failed: export a fresh one
        tok = paper_tokenizer(ctx)
        ctx.export_dir = ctx.work / "export"
        tok.to("cpu").save_pretrained(ctx.export_dir)
        del tok
    whisper = make_whisper(ctx.work / "whisper", ctx.dry)
    evald = ctx.work / "eval"
    evald.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    lines = []
    for i in range(s["compare_utts"]):
        t = np.arange(int(s["compare_seconds"] * SR)) / SR
        wav = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.03 * rng.standard_normal(t.shape)
        sf.write(evald / f"u{i}.wav", wav.astype(np.float32), SR, subtype="PCM_16")
        lines.append(json.dumps({"id": f"u{i}", "path": f"u{i}.wav", "text": "hello world the cat sat"}))
    (evald / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    out_dir = ctx.work / "compare"
    cmd = [sys.executable, "-m", "tokenizer_bench.core.cli.app", "compare",
           "--tokenizers", f"dm_codec:{ctx.export_dir}", "--data", str(evald / "manifest.jsonl"),
           "--metrics", "wer,wil,stoi,si_sdr,mel_distance,bitrate", "--asr", "hf_whisper",
           "--asr-option", f"model={whisper}", "--asr-option", f"device={ctx.device}",
           "--asr-option", f"max_new_tokens={s['asr_max_new_tokens']}", "--device", ctx.device,
           "--out", str(out_dir), "--no-plots", "--aso-iterations", "50", "--report-examples", "1"]
    t = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS="1") if ctx.dry else None
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(budget_end - time.monotonic(), 1), env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"compare exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    records = [json.loads(x) for x in (out_dir / "records.jsonl").read_text().splitlines() if x.strip()]
    systems = sorted({r.get("system", r.get("label", "?")) for r in records})
    return {"wall_s": round(wall, 2), "records": len(records), "systems": systems, "command": " ".join(cmd),
            "asr_params_note": "whisper-medium body (24+24 layers, d_model 1024) with a byte-level vocabulary"
            if not ctx.dry else "toy whisper"}


def section_ddp(ctx: Context, budget_end: float) -> dict[str, Any]:
    """The trainer under torch.distributed.run: NCCL on GPU (one rank per device), gloo on CPU."""
    import torch

    corpus = _prepare_corpus(ctx)
    cfg = paper_config(ctx.work / "train", ctx.size, ctx.dry, ctx.size["batch"], {"output_dir": ctx.work / "ddp_cfg"})
    # the workers find a complete cache
    M.write_random_teacher_features(cfg, corpus.rglob("*.flac"), ctx.size["teacher_dims"])
    n = min(2, torch.cuda.device_count()) if not ctx.dry else 2
    result_dir = ctx.work / "ddp"
    result_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", __file__,
           "--ddp-worker", str(result_dir)] + (["--dry-run"] if ctx.dry else [])
    env = dict(os.environ, OMP_NUM_THREADS="1", GPU_CHECK_CORPUS=str(corpus.parent))
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(budget_end - time.monotonic(), 1), env=env)
    if proc.returncode != 0:
        errors = "\n".join(p.read_text()[-2500:] for p in sorted(result_dir.glob("rank*.error")))
        raise RuntimeError(f"torch.distributed.run exited {proc.returncode}:\n{errors or proc.stderr[-3000:]}")
    ranks = [json.loads((result_dir / f"rank{r}.json").read_text()) for r in range(n)]
    out = {"processes": n, "wall_s": round(time.perf_counter() - t, 2), "ranks": ranks}
    if n < 2:
        out["note"] = ("one device: NCCL runs with world size 1, so the discriminators' all-reduce "
                       "(plugins.recipes.gan.average_gradients) returns early; it runs with 2+ GPUs")
    return out


def ddp_worker(result_dir: Path, dry: bool) -> None:
    """One rank: the paper config (toy in the dry run) trained for a few steps through ``fit``."""
    import torch
    from accelerate.utils import DistributedType

    from tokenizer_bench.core.training import Trainer

    size = DRY if dry else FULL
    work = Path(os.environ["GPU_CHECK_CORPUS"])
    rank = int(os.environ.get("RANK", "0"))
    cfg = paper_config(work, size, dry, size["batch"], {
        "output_dir": result_dir / "run", "max_steps": size["ddp_steps"], "mixed_precision": "no" if dry else "bf16"})
    trainer = Trainer(cfg)
    summary = trainer.fit()  # ends with a checkpoint: model, optimisers, every rank's RNG (CUDA's too)
    acc = trainer.accelerator
    # one all-reduce of the backend, as the discriminator gradients use (also at world size 1)
    x = torch.ones(1, device=acc.device) * (rank + 1)
    if torch.distributed.is_initialized():
        torch.distributed.all_reduce(x)
    info = {"rank": rank, "world_size": acc.num_processes, "distributed_type": str(acc.distributed_type),
            "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
            "generator_wrapped": type(trainer.prepared[GENERATOR_GROUP]).__name__, "steps": summary["step"],
            "all_reduce_sum": float(x.item()), "device": str(acc.device),
            "ddp": acc.distributed_type in (DistributedType.MULTI_GPU, DistributedType.MULTI_CPU)}
    del trainer
    # --resume from that checkpoint for one more step (restores the RNG states, CUDA's on GPU)
    cfg = paper_config(work, size, dry, size["batch"], {
        "output_dir": result_dir / "run", "max_steps": size["ddp_steps"] + 1,
        "mixed_precision": "no" if dry else "bf16"})
    resumed = Trainer(cfg, resume=True)
    info["resumed_from_step"] = resumed.step
    info["steps_after_resume"] = resumed.fit()["step"]
    (result_dir / f"rank{rank}.json").write_text(json.dumps(info))
    acc.wait_for_everyone()


# ------------------------------------------------------------------------------ driver


def run_sections(ctx: Context, only: list[str] | None) -> dict[str, dict[str, Any]]:
    """Each section inside its own time box and the global one; failures are recorded, not raised."""
    order: list[tuple[str, Callable[..., dict]]] = [
        ("environment", lambda c, e: environment()),
        *[(m, (lambda m: lambda c, e: section_train(c, m, e))(m)) for m in MODES],
        ("codec_rtf", section_codec_rtf), ("teachers", section_teachers), ("compare", section_compare),
        ("ddp", section_ddp),
    ]
    results: dict[str, dict[str, Any]] = {}
    for name, fn in order:
        if only and name not in only and name != "environment":
            continue
        budget = min(ctx.size["budgets"][name] * ctx.scale, ctx.remaining())
        if budget < 3:
            results[name] = {"status": "not run", "error": "global --time-limit reached"}
            print(f"[gpu_check] {name}: not run (global time limit)", flush=True)
            continue
        print(f"[gpu_check] {name} (time box {budget:.0f} s) ...", flush=True)
        t = time.monotonic()
        try:
            with time_box(budget):
                data = fn(ctx, t + budget * 0.9)
            results[name] = {"status": "ok", **data}
        except BaseException as exc:  # noqa: BLE001 - a section's failure is a result
            if isinstance(exc, KeyboardInterrupt):
                raise
            results[name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()[-4000:]}
            free_memory(ctx.device)
        results[name]["wall_s_section"] = round(time.monotonic() - t, 2)
        status = results[name]["status"]
        print(f"[gpu_check] {name}: {status} in {results[name]['wall_s_section']} s"
              + (f" -- {results[name]['error'][:300]}" if status != "ok" else ""), flush=True)
        if name == "environment" and status == "ok":
            print(json.dumps(data), flush=True)
    return results


def render(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    env = results.get("environment", {})
    lines = ["# GPU check" + (" (dry run: CPU, toy model)" if meta["dry_run"] else ""), "",
             f"Written by `benchmarks/perf/gpu_check.py{' --dry-run' if meta['dry_run'] else ''}` on {meta['date']} "
             f"in {meta['wall_s']} s (time limit {meta['time_limit_s']} s).", "",
             f"torch {env.get('torch')} (CUDA {env.get('torch_cuda')}), device: {env.get('gpu', 'cpu')}, "
             f"transformers {env.get('transformers')}, accelerate {env.get('accelerate')}.", "",
             "Paper ♠ configuration (`configs/dm_codec_lm_sm.yaml`" + (", shrunk to a toy" if meta["dry_run"] else "")
             + ") on synthetic audio with random teacher features; one step = generator forward, D step, G step.", "",
             "## Training step", "",
             "| mode | batch | step s (median) | audio h / GPU h | peak CUDA GiB | first step s "
             "| decoder / G output dtype |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for m in MODES:
        r = results.get(m, {})
        if r.get("status") != "ok":
            lines.append(f"| {m} | – | {r.get('status', 'not run')} | | | | |")
            continue
        for key in ("base", "largest"):
            row = r[key] if key == "base" else (r[key] or {}).get("row")
            if row is None:
                lines.append(f"| {m} (largest) | – | none larger fit: {r['largest']['stopped']} | | | | |")
                continue
            label = m if key == "base" else f"{m} (largest; {r['largest']['stopped']})"
            lines.append(f"| {label} | {row['batch']} | {row['step_s']} | {row['audio_hours_per_gpu_hour']} | "
                         f"{row['peak_cuda_gib']} | {r['first_step_s']} | {r['dtypes'].get('decoder')} / "
                         f"{r['dtypes'].get('generator_output')} |")
    lines += ["", "## Per step: host reads, LSTM precision, compilation", "",
              "| mode | host reads of device values per step (Python) | CUDA syncs per step (sync debug mode) "
              "| LSTM output dtypes | submodule output dtypes |", "|---|---:|---:|---|---|"]
    for m in MODES:
        r = results.get(m, {})
        if r.get("status") != "ok":
            continue
        sy, dt = r.get("host_syncs", {}), r.get("dtypes", {})
        lstm = ", ".join(sorted(set((dt.get("lstm") or {}).values()))) or "–"
        lines.append(f"| {m} | {sy.get('python_reads')} | {sy.get('cuda_syncs')} | {lstm} | "
                     f"{dt.get('submodule_dtype_counts')} |")
    for m in MODES:
        c = results.get(m, {}).get("compile")
        if c:
            lines += ["", f"`{m}`: first step compiled {c['frames_compiled']} frames into {c['graphs']} graphs in "
                      f"{c['compile_s']} s, {c['graph_breaks']} graph breaks"
                      + (f"; after the batch search: {results[m]['compile_after_search']['frames_compiled']} frames, "
                         f"{results[m]['compile_after_search']['compile_s']} s"
                         if results[m].get("compile_after_search") else "") + ". Break reasons (count):", ""]
            lines += [f"- {v}x {k}" for k, v in c["break_reasons"].items()] or ["- none"]
    r = results.get("codec_rtf", {})
    lines += ["", "## Codec real-time factor (seconds of compute per second of audio)", ""]
    if r.get("status") == "ok":
        lines += ["| batch | s per utterance | encode RTF | decode RTF | peak CUDA GiB |", "|---:|---:|---:|---:|---:|"]
        lines += [f"| {x['batch']} | {x['seconds_per_utterance']} | {x['encode_rtf']} | {x['decode_rtf']} | "
                  f"{x['peak_cuda_gib']} |" for x in r["rows"]]
    else:
        lines.append(f"{r.get('status', 'not run')}")
    r = results.get("teachers", {})
    lines += ["", "## Teacher feature throughput (random-init, per utterance as the cache computes them)", ""]
    if r.get("status") == "ok":
        lines += ["| weights | SM params | SM audio s / s | LM params | LM tokens / s | peak CUDA GiB |",
                  "|---|---:|---:|---:|---:|---:|"]
        for dt in ("float32", "bfloat16"):
            x = r[dt]
            lines.append(f"| {dt} | {x['sm_params']:,} | {x['sm_audio_seconds_per_second']} | {x['lm_params']:,} | "
                         f"{x['lm_tokens_per_second']} | {x['peak_cuda_gib']} |")
    else:
        lines.append(f"{r.get('status', 'not run')}")
    for name in ("compare", "ddp"):
        r = results.get(name, {})
        lines += ["", f"## {name}", ""]
        if r.get("status") == "ok":
            keep = {k: v for k, v in r.items() if k not in ("status", "traceback")}
            lines += ["```json", json.dumps(keep, indent=1)[:3000], "```"]
        else:
            lines.append(f"{r.get('status', 'not run')}")
    failed = [(k, v) for k, v in results.items() if v.get("status") != "ok"]
    lines += ["", "## Summary", ""]
    lines += [f"- **{k}: {v['status']}** — {v.get('error', '')[:500]}" for k, v in failed] or ["- every section ran"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="every path on CPU at toy size (needs --out)")
    ap.add_argument("--out", help="folder for gpu_check.json / .md (default benchmarks/results; "
                                  "required with --dry-run)")
    ap.add_argument("--time-limit", type=float, help="global seconds (default 470 on GPU, 300 dry)")
    ap.add_argument("--sections", help="comma-separated subset: " + ",".join(["environment", *MODES, "codec_rtf",
                                                                              "teachers", "compare", "ddp"]))
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch folder (printed)")
    ap.add_argument("--ddp-worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ddp_worker:
        try:
            ddp_worker(Path(args.ddp_worker), args.dry_run)
        except BaseException:
            rank = os.environ.get("RANK", "0")
            (Path(args.ddp_worker) / f"rank{rank}.error").write_text(traceback.format_exc())
            raise
        return 0
    if args.dry_run and not args.out:
        ap.error("--dry-run writes to --out DIR (never over benchmarks/results)")
    import torch

    torch.set_num_threads(1 if args.dry_run else min(16, os.cpu_count() or 1))
    out = Path(args.out) if args.out else RESULTS
    size = DRY if args.dry_run else FULL
    limit = args.time_limit if args.time_limit is not None else size["time_limit"]
    only = [x.strip() for x in args.sections.split(",")] if args.sections else None
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    t0 = time.monotonic()
    ctx = Context(args.dry_run, work, limit)
    print(f"[gpu_check] torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"cuda available: {torch.cuda.is_available()}; scratch {work}", flush=True)
    results = run_sections(ctx, only)
    meta = {"dry_run": args.dry_run, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "wall_s": round(time.monotonic() - t0, 1), "time_limit_s": limit, "sections": only,
            "peak_rss_gib": round(M.peak_rss_bytes() / M.GIB, 2)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (out / "gpu_check.md").write_text(render(results, meta))
    failed = [k for k, v in results.items() if v.get("status") != "ok"]
    print(f"[gpu_check] wrote {out / 'gpu_check.json'} and .md in {meta['wall_s']} s; "
          + (f"FAILED: {', '.join(failed)}" if failed else "all sections ok"), flush=True)
    if not args.keep_work:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Seconds per training step and peak memory of the trainer, demo vs paper configuration.

    python benchmarks/perf/train_step.py [--configs demo dm_codec_lm_sm] [--steps 3] [--device cpu|cuda]

Each configuration runs in a fresh subprocess (so the peak resident memory belongs to it alone)
at batch 2 x 3 s crops, on a synthetic corpus (noisy tones) with random teacher features written
straight into the teacher-cache layout at the teachers' sizes: the step cost is the trainer's,
not the teachers'. Step 1 includes the RVQ k-means initialisation and is reported separately;
the "step" time is the median of the following steps. Writes
``benchmarks/results/train_step.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _measure as M

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"

TEACHER_DIMS = {"demo": {"lm": 384}, "dm_codec_lm_sm": {"lm": 768, "sm": 768}, "dm_codec_lm": {"lm": 768}}


def _child(config: str, steps: int, device: str, batch: int, seconds: float) -> dict:
    """Build the trainer for ``config`` on synthetic data and time ``steps`` optimiser steps."""

    import numpy as np
    import soundfile as sf
    import torch

    from tokenizer_bench.core.config import load_config
    from tokenizer_bench.core.train_config import TrainConfig
    from tokenizer_bench.core.training import Trainer

    work = Path(tempfile.mkdtemp(prefix="train_step_"))
    corpus = work / "corpus" / "1" / "1"
    corpus.mkdir(parents=True)
    sr = 16000
    rng = np.random.default_rng(0)
    n_utts = batch * 4
    for i in range(n_utts):
        t = np.arange(int((seconds + 0.5) * sr)) / sr
        wav = 0.3 * np.sin(2 * np.pi * (120 + 30 * i) * t) + 0.03 * rng.standard_normal(t.shape)
        sf.write(corpus / f"1-1-{i:04d}.flac", wav.astype(np.float32), sr, subtype="PCM_16")
    overrides = [
        f"data.train=[{work / 'corpus'}]", "data.format=librispeech", f"data.batch_size={batch}",
        f"data.segment_seconds={seconds}", "data.num_workers=0", "data.demo_corpus=null",
        "data.download=null", f"teachers.cache_dir={work / 'cache'}", f"trainer.output_dir={work / 'run'}",
        f"trainer.max_steps={steps}", "trainer.checkpoint_every=1000000", "trainer.tensorboard=false",
        "trainer.progress=false", "trainer.export=false", "trainer.log_every=1", f"trainer.cpu={device == 'cpu'}",
    ]
    cfg = load_config(config, TrainConfig, overrides)
    dims = TEACHER_DIMS.get(Path(config).stem, {"lm": 768, "sm": 768})
    M.write_random_teacher_features(cfg, corpus.glob("*.flac"), dims)  # no teacher model runs

    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    build_s = time.perf_counter() - t0
    cuda = trainer.accelerator.device.type == "cuda"

    def batches():
        """The run's batches in order, epoch after epoch (the loader is re-seeded per epoch)."""
        epoch = 0
        while True:
            yield from trainer.data.loader(epoch)
            epoch += 1

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times: list[float] = []
    for _, batch_ in zip(range(steps), batches()):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        trainer.train_step(batch_)  # one optimiser step, as fit runs it (no accumulation)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    modules = trainer.recipe.modules()
    discriminators = modules.get("discriminators")
    others = [m for k, m in modules.items() if k not in ("generator", "discriminators")]
    result = {
        "config": config,
        "device": str(trainer.accelerator.device),
        "batch": f"{batch} x {seconds:g} s",
        "generator_params": sum(p.numel() for p in modules["generator"].parameters()),
        # the distillation projections W: trained with the generator, not exported
        "projection_params": sum(p.numel() for m in others for p in m.parameters()),
        "discriminator_params": sum(p.numel() for p in discriminators.parameters())
        if discriminators is not None else 0,
        "build_s": round(build_s, 3),
        "first_step_s": round(times[0], 3),
        "step_s_median": round(statistics.median(times[1:]), 3) if len(times) > 1 else None,
        "step_s_all": [round(x, 3) for x in times],
        "peak_rss_gib": round(M.peak_rss_bytes() / M.GIB, 3),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if cuda:
        result["peak_cuda_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 3)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["demo.yaml", "dm_codec_lm_sm.yaml"])
    ap.add_argument("--steps", type=int, default=3, help="optimiser steps per config (the first includes k-means)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "train_step"), help="output path without extension")
    ap.add_argument("--render-only", action="store_true", help="rewrite the .md from the existing .json")
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(_child(args.child, args.steps, args.device, args.batch, args.seconds)))
        return
    out = Path(args.out)
    if args.render_only:
        saved = json.loads(out.with_suffix(".json").read_text())
        render(out, saved["meta"], saved["results"])
        return
    rows = []
    for config in args.configs:
        cmd = [sys.executable, __file__, "--child", config, "--steps", str(args.steps), "--batch", str(args.batch),
               "--seconds", str(args.seconds), "--device", args.device]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((out for out in proc.stdout.splitlines() if out.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            raise SystemExit(f"{config} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        rows.append(json.loads(line[len("RESULT "):]))
        print(json.dumps(rows[-1]))
    meta = {
        "machine": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "note": "synthetic audio + random teacher features in the cache layout; step = one G forward, "
                "D step, G step (official order); first step includes RVQ k-means init",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    render(out, meta, rows)


def render(out: Path, meta: dict, rows: list[dict]) -> None:
    gpu = any(r["device"].startswith("cuda") for r in rows)
    lines = [
        "# Trainer step time and peak memory", "",
        f"{meta['note']}. Machine: {meta['machine']}, {meta['cpu_count']} CPU cores (shared with other jobs "
        "while measured, so times are upper bounds).", "",
        "| config | device | batch | generator params | discriminator params | torch threads | load avg | "
        "first step (k-means) s | step s (median) | peak RSS GiB |" + (" peak CUDA GiB |" if gpu else ""),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if gpu else ""),
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['device']} | {r['batch']} | {r['generator_params']:,} | "
            f"{r['discriminator_params']:,} | "
            f"{r['torch_threads']} | {r.get('load_average_1min', '?')} | {r['first_step_s']} | {r['step_s_median']} | "
            f"{r['peak_rss_gib']} |" + (f" {r.get('peak_cuda_gib', '')} |" if gpu else "")
        )
    if meta.get("observed_load"):
        lines += ["", f"Load: {meta['observed_load']}."]
    if not gpu:
        lines += ["", "No GPU was available to this run; `--device cuda` measures one (peak CUDA memory too)."]
    lines += ["", "Generator parameters exclude the distillation projection (trained with the generator, not "
              "exported): 787,200 at 1024 -> 768. The official generator with its `transform` head has "
              "103,675,586 = 102,888,386 + 787,200."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

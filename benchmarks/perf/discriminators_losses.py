"""CPU cost of the full-size discriminators and of the training losses (forward + backward).

Each case runs in a fresh process, so its peak RSS (``ru_maxrss``) is its own: the process builds
the module, runs one untimed warm-up step, then ``--repeats`` timed steps (forward and backward
timed separately). Inputs are a batch of ``--batch`` random waveforms of ``--seconds`` s at 16 kHz
(default 2 × 3 s, the paper's crop), and for the distillation losses 8 RVQ layer outputs
``[B, 1024, T]`` with 768-d teacher features on the same 50 Hz frames.

The discriminator cases backpropagate a hinge generator loss to both the parameters and the input
waveform (what the generator step needs); the feature-matching/adversarial case times only the
loss arithmetic over the three discriminators' real feature maps and fake copies of them.

Usage: ``python benchmarks/perf/discriminators_losses.py [--repeats 3] [--threads N]``; writes
``benchmarks/results/discriminators_losses.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

import _measure as M

SR = 16000
MIB = 2 ** 20
RESULTS = Path(__file__).resolve().parents[1] / "results"

CASES: dict[str, str] = {
    "mpd": "discriminator: multi-period (periods 2,3,5,7,11)",
    "msd": "discriminator: multi-scale (3 scales)",
    "mstft": "discriminator: multi-scale STFT (32 filters)",
    "multiscale_mel": "loss: paper mel (64 mels, 2^5..2^11, L1+MSE)",
    "dmcodec_mel": "loss: official mel (4 resolutions, 80 mels, log L1)",
    "waveform_l1": "loss: waveform L1",
    "distillation": "loss: distillation, RVQ-1 -> 768 (projection + eq. 1)",
    "lm_sm_distillation": "loss: LM (RVQ-1) + SM (RVQ-1:8), shared projection",
    "adversarial_feature_matching":
        "loss: hinge adversarial + relative feature matching over all 13 sub-discriminators",
}


def _build(case: str, batch: int, n: int) -> tuple[Callable[[], torch.Tensor], list[torch.Tensor], int]:
    """``(forward() -> scalar loss, tensors whose grads to clear, parameter count)`` for one case."""
    from tokenizer_bench.core.plugins import get_registry
    from tokenizer_bench.plugins.losses.adversarial import feature_matching_loss, generator_adversarial_loss

    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, n, generator=g) * 0.1
    frames = n // 320
    if case in ("mpd", "msd", "mstft"):
        disc = get_registry("discriminators").build(case).train()
        wav = x.clone().requires_grad_(True)
        leaves = [wav, *disc.parameters()]
        return (lambda: generator_adversarial_loss(disc(wav)[0])), leaves, sum(p.numel() for p in disc.parameters())
    if case in ("multiscale_mel", "dmcodec_mel", "waveform_l1"):
        loss = get_registry("losses").build(case)
        x_hat = (x + 0.01 * torch.randn(x.shape, generator=g)).requires_grad_(True)
        return (lambda: loss(x, x_hat)), [x_hat], 0
    if case in ("distillation", "lm_sm_distillation"):
        from tokenizer_bench.core.interfaces import QuantizerOutput

        layers = [torch.randn(batch, 1024, frames, generator=g).requires_grad_(True) for _ in range(8)]
        qout = QuantizerOutput(quantized=layers[-1], codes=torch.zeros(batch, 8, frames, dtype=torch.long),
                               commit_loss=torch.zeros(()), layer_outputs=layers)
        features = {"lm": torch.randn(batch, frames, 768, generator=g),
                    "frame_mask": torch.ones(batch, frames, dtype=torch.bool)}
        # the distillation term as a config lists it (sizes passed as the recipe passes them)
        targets: dict[str, Any] = {"lm": {"target": "rvq1"}, "sm": None}
        if case == "lm_sm_distillation":
            targets["sm"] = {"target": "rvq1:8"}
            features["sm"] = torch.randn(batch, frames, 768, generator=g)
            features["sm_mask"] = torch.ones(batch, frames, dtype=torch.bool)
        dims = {role: 768 for role, t in targets.items() if t is not None}
        mod = get_registry("losses").build("distillation", student_dim=1024, teacher_dims=dims, **targets)
        n_params = sum(p.numel() for p in mod.parameters())
        leaves = [*layers, *mod.parameters()]
        return (lambda: mod(qout, features)[0]), leaves, n_params
    if case == "adversarial_feature_matching":
        reg = get_registry("discriminators")
        real_l, real_f = [], []
        with torch.no_grad():
            for name in ("mpd", "msd", "mstft"):
                lg, fm = reg.build(name)(x)
                real_l += lg
                real_f += fm
        fake_l = [(t + 0.1).requires_grad_(True) for t in real_l]
        fake_f = [[(t * 0.9).requires_grad_(True) for t in fm] for fm in real_f]
        leaves = fake_l + [t for fm in fake_f for t in fm]
        return (lambda: generator_adversarial_loss(fake_l) + feature_matching_loss(real_f, fake_f)), leaves, 0
    raise KeyError(f"unknown case {case!r}; cases: {', '.join(CASES)}")


def run_case(case: str, batch: int, seconds: float, repeats: int, threads: int | None) -> dict[str, Any]:
    """Measure one case in this process (called in a child process by :func:`main`)."""
    if threads:
        torch.set_num_threads(threads)
    n = int(seconds * SR)
    t0 = time.perf_counter()
    forward, leaves, n_params = _build(case, batch, n)
    build_s = time.perf_counter() - t0
    rss_after_build = M.rss_bytes() / MIB
    fwd, bwd = [], []
    for i in range(repeats + 1):  # the first step is a warm-up
        for t in leaves:
            t.grad = None
        t0 = time.perf_counter()
        loss = forward()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{case}: non-finite loss {loss.item()}")
        if i:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    tot = [a + b for a, b in zip(fwd, bwd)]
    return {
        "case": case,
        "description": CASES[case],
        "parameters": n_params,
        "build_s": round(build_s, 3),
        "forward_s_median": round(statistics.median(fwd), 4),
        "backward_s_median": round(statistics.median(bwd), 4),
        "total_s_median": round(statistics.median(tot), 4),
        "total_s_min": round(min(tot), 4),
        "total_s_max": round(max(tot), 4),
        "repeats": repeats,
        "rss_after_build_mib": round(rss_after_build, 1),
        "peak_rss_mib": round(M.peak_rss_bytes() / MIB, 1),
    }


def _markdown(report: dict[str, Any]) -> str:
    c, env = report["config"], report["environment"]
    lines = [
        "# Discriminators and losses: CPU forward + backward",
        "",
        f"Batch {c['batch']} × {c['seconds']} s at 16 kHz, median of {c['repeats']} steps after one warm-up; "
        f"each case in a fresh process (peak RSS is that process's). torch {env['torch']}, "
        f"{env.get('torch_threads')} threads, {env.get('cpu_model', 'unknown CPU')}, load average at start "
        f"{env.get('load_average')} (the machine is shared: treat timings as indicative).",
        "",
        "| case | params | forward s | backward s | total s (min–max) | RSS after build MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['case']} | {r['parameters']:,} | {r['forward_s_median']:.3f} | {r['backward_s_median']:.3f} | "
            f"{r['total_s_median']:.3f} ({r['total_s_min']:.3f}–{r['total_s_max']:.3f}) | "
            f"{r['rss_after_build_mib']:.0f} | {r['peak_rss_mib']:.0f} |"
        )
    lines += ["", "Cases:", ""] + [f"- `{r['case']}`: {r['description']}" for r in report["results"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    ap.add_argument("--case", help=argparse.SUPPRESS)  # child-process mode
    args = ap.parse_args(argv)

    if args.case:
        print(json.dumps(run_case(args.case, args.batch, args.seconds, args.repeats, args.threads)))
        return 0

    environment = M.environment("cpu")  # before the cases: its load average is the one at the start
    results = []
    for case in args.cases:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--case", case, "--batch", str(args.batch),
               "--seconds", str(args.seconds), "--repeats", str(args.repeats)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"case {case!r} failed (exit {proc.returncode})")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{case:30s} fwd {r['forward_s_median']:.3f}s  bwd {r['backward_s_median']:.3f}s  "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)

    report = {
        "config": {"batch": args.batch, "seconds": args.seconds, "sample_rate": SR, "repeats": args.repeats,
                   "threads": args.threads},
        "environment": environment,
        "results": results,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "discriminators_losses.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "discriminators_losses.md").write_text(_markdown(report))
    print(f"wrote {args.out_dir / 'discriminators_losses.json'} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

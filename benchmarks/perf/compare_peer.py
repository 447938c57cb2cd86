"""Side-by-side performance of our DM-Codec stack and its peer, PyPI ``speechtokenizer`` 1.0.1.

One command (it builds the peer's isolated ``.venv-peer`` with ``peer_env.sh`` on first use)::

    python benchmarks/perf/compare_peer.py              # full run (~15 min on a quiet 2-core CPU)
    python benchmarks/perf/compare_peer.py --quick      # smoke test: tiny inputs, minutes

Every measurement runs in a fresh process (peak RSS is per process), the two sides alternately so
that both see the same machine load, each with the same number of torch threads:

* training step at batch 2 x 3 s, paper generator + MPD + MSD + MS-STFT: the peer composed as its
  trainer runs (``peer_speechtokenizer.py``, in ``.venv-peer``), ours through our trainer
  (``ours_train_codec.py``: the instrumented mirror for phase timings, ``Trainer.train_step``
  itself for the total, and our paper-loss variant);
* the first step (k-means codebook init) on both sides;
* encode / decode real-time factor at 1, 10, 60 s, batch 1 and 16, for the peer, our DM-Codec and
  our baselines (EnCodec, FACodec; random init).

Writes ``benchmarks/results/peer_comparison.json`` (every raw result, the environment and the
summary) and ``peer_comparison.md``, and refreshes the ``benchmarks/results/README.md`` index.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _measure as M

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

RESULTS = REPO / "benchmarks" / "results"
PEER_PY = REPO / ".venv-peer" / "bin" / "python"
GIB = 1024 ** 3
MIB = 1024 ** 2
SETTLE_SECONDS = 5.0


def run_side(python: str, script: str, args: list[str], timeout: float, log: list[dict]) -> dict | None:
    """Run one measurement in a fresh process; returns its JSON (None on failure, recorded in ``log``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [python, str(HERE / script), *args, "--out", str(out)]
        time.sleep(SETTLE_SECONDS)  # let the kernel finish reclaiming the previous process's memory
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"cmd": [Path(cmd[0]).name, script, *args], "load_before": M.load_average()}
        print(f"[compare_peer] {script} {' '.join(args)}", flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "PYTHONWARNINGS": "ignore"})
            entry["returncode"] = proc.returncode
            if proc.returncode != 0:
                entry["stderr_tail"] = proc.stderr[-2000:]
        except subprocess.TimeoutExpired:
            entry["returncode"] = "timeout"
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        entry["load_after"] = M.load_average()
        log.append(entry)
        if out.is_file():
            partial = HERE / ".work" / "partial"
            partial.mkdir(parents=True, exist_ok=True)  # every raw result as it arrives (git-ignored)
            (partial / f"{len(log):03d}_{Path(script).stem}.json").write_text(out.read_text())
            print(f"[compare_peer]   done in {entry['seconds']} s", flush=True)
            return json.loads(out.read_text())
        print(f"[compare_peer]   FAILED ({entry['returncode']}): {entry.get('stderr_tail', '')[-400:]}", flush=True)
        return None


# ----------------------------------------------------------------------------- summaries


def steady_summary(res: dict | None) -> dict | None:
    """Median over the timed (non-warm-up) steps of one process, plus its peak memory."""
    if res is None:
        return None
    steps = [s for s in res["steps"] if not s.get("warmup")] or res["steps"]
    out: dict[str, Any] = {
        "steps": len(steps),
        "wall": statistics.median(s["wall"] for s in steps),
        "cpu": statistics.median(s["cpu"] for s in steps),
        "phases": {k: statistics.median(s["grouped"].get(k, 0.0) for s in steps) for k in steps[0]["grouped"]},
        "cpu_phases": {k: statistics.median(s["cpu_grouped"].get(k, 0.0) for s in steps)
                       for k in steps[0]["cpu_grouped"]},
        "raw_phases": {k: statistics.median(s["phases"].get(k, 0.0) for s in steps) for k in steps[0]["phases"]},
        "peak_rss_process": res["ru_maxrss"],
        "peak_rss_step": max(s["peak_rss"] for s in steps),
        "rss_after_build": res["rss_after_build"],
    }
    return out


def pooled(results: list[dict | None]) -> dict | None:
    """Median over repeated processes of the per-process medians."""
    sums = [steady_summary(r) for r in results if r is not None]
    if not sums:
        return None
    med = lambda key: statistics.median(s[key] for s in sums)  # noqa: E731
    out = {"processes": len(sums), "wall": med("wall"), "cpu": med("cpu"),
           "wall_all": [s["wall"] for s in sums], "peak_rss_process": max(s["peak_rss_process"] for s in sums),
           "peak_rss_step": max(s["peak_rss_step"] for s in sums), "rss_after_build": med("rss_after_build")}
    for key in ("phases", "cpu_phases", "raw_phases"):
        names = sums[0][key]
        out[key] = {k: statistics.median(s[key].get(k, 0.0) for s in sums) for k in names}
    return out


def first_summary(res: dict | None) -> dict | None:
    if res is None:
        return None
    s = res["steps"][0]
    out = {"wall": s["wall"], "cpu": s["cpu"], "phases": s["grouped"], "peak_rss_process": res["ru_maxrss"]}
    if res.get("kmeans") and isinstance(res["kmeans"], dict):
        out["kmeans"] = res["kmeans"]
        out["wall_estimated_full_kmeans"] = res.get("first_step_estimated_full_kmeans")
    elif res.get("kmeans"):
        out["kmeans"] = res["kmeans"]
    return out


def pool_codec(results: list[dict | None]) -> dict | None:
    """One codec result from several processes of one side: their timings together, the larger peak."""
    ok = [r for r in results if r is not None]
    if not ok:
        return None
    out = dict(ok[0])
    for key in ("encode_s", "decode_s", "encode_cpu_s", "decode_cpu_s"):
        out[key] = [x for r in ok for x in r[key]]
    audio_s = out["seconds"] * out["batch"]
    out["encode_rtf"] = M.summarize([t / audio_s for t in out["encode_s"]])["median"]
    out["decode_rtf"] = M.summarize([t / audio_s for t in out["decode_s"]])["median"]
    out["processes"] = len(ok)
    # the largest per-process peak above that process's own starting RSS, expressed against ok[0]'s
    out["phase_peak_rss"] = {k: out["rss_before"] + max(r["phase_peak_rss"].get(k, 0) - r["rss_before"] for r in ok)
                             for k in ok[0]["phase_peak_rss"]}
    out["ru_maxrss"] = max(r["ru_maxrss"] for r in ok)
    return out


def codec_summary(res: dict | None) -> dict | None:
    if res is None:
        return None
    audio = res["seconds"] * res["batch"]
    enc, dec = statistics.median(res["encode_s"]), statistics.median(res["decode_s"])
    enc_c, dec_c = statistics.median(res["encode_cpu_s"]), statistics.median(res["decode_cpu_s"])
    base = res["rss_before"]
    return {"seconds": res["seconds"], "batch": res["batch"], "encode_s": enc, "decode_s": dec,
            "encode_rtf": enc / audio, "decode_rtf": dec / audio, "encode_cpu_s": enc_c, "decode_cpu_s": dec_c,
            "repeats": len(res["encode_s"]),
            "encode_peak_extra_mib": (res["phase_peak_rss"]["encode"] - base) / MIB,
            "decode_peak_extra_mib": (res["phase_peak_rss"]["decode"] - base) / MIB,
            "peak_rss_process_gib": res["ru_maxrss"] / GIB}


def growth(rows: list[dict]) -> dict:
    """Linear fits of time and extra memory against audio seconds (batch 1)."""
    rows = sorted(rows, key=lambda r: r["seconds"])
    xs = [r["seconds"] for r in rows]
    out = {"seconds": xs}
    for key in ("encode_s", "decode_s", "encode_peak_extra_mib", "decode_peak_extra_mib"):
        out[key] = M.fit_line(xs, [r[key] for r in rows])
        out[key]["values"] = [r[key] for r in rows]
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


# ----------------------------------------------------------------------------- markdown


def _f(x: float | None, nd: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x / GIB:.2f}"


def markdown(report: dict) -> str:
    env, s, st = report["environment"], report["summary"], report["settings"]
    peer_env = report.get("peer_environment") or {}
    lines = [
        "# Performance: tokenizer-bench vs. speechtokenizer 1.0.1 (peer)",
        "",
        f"Generated by `python benchmarks/perf/compare_peer.py{' --quick' if st['quick'] else ''}` on "
        f"{report['started']} (total {report['total_seconds'] / 60:.1f} min). Raw data: `peer_comparison.json`.",
        "",
        "## Machine and software",
        "",
        f"- CPU: {env['cpu_model']}, {env['cpu_count']} logical cores visible, "
        f"RAM {(env['ram_bytes'] or 0) / GIB:.1f} GiB; no GPU used.",
        f"- torch {env['torch']} (both sides), {st['threads']} threads per process; python {env['python']}; "
        f"numpy {env['numpy']}.",
        f"- Peer: speechtokenizer {peer_env.get('speechtokenizer', '?')} with torchaudio "
        f"{peer_env.get('torchaudio', '?')} (pure Python, compiled extension removed) in `.venv-peer`.",
        f"- Load average before / after the run: {report['load_before']} / {report['load_after']} "
        "(the machine is shared: see *Noise*).",
        "",
        "## Settings",
        "",
        f"- Training: batch {st['batch']} x {st['seconds']} s at 16 kHz, paper generator (13 official keys), "
        "MPD + MSD + "
        f"MS-STFT(32), Adam lr 1e-4 betas (0.9, 0.99); {st['steps']} timed steps after 1 warm-up step per process, "
        f"{st['repeats']} process(es) per side; medians.",
        "- *parity*: the peer's losses (official 4-resolution mel, LSGAN, absolute feature matching, RVQ-1 "
        "distillation from one teacher, weights 45/500/10/120/2/1). *paper*: ours with the paper's losses "
        "(7-scale mel L1+L2, hinge, relative FM, LM on RVQ-1 + SM on RVQ-1:8).",
        f"- Codec: encode then decode under no_grad, eval mode, at {st['codec_seconds']} s x batch "
        f"{st['codec_batches']}; RTF = wall time / audio seconds (lower is faster).",
        "",
        "## Training step (steady state)",
        "",
        "| implementation | step wall (s) | step CPU (s) | G forward | D forward (both passes) | losses | backward | "
        "Adam | D update | G update | teacher features | peak RSS process (GiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("peer", "peer speechtokenizer 1.0.1"), ("ours_parity", "ours, parity (instrumented)"),
                       ("ours_trainer", "ours, parity (`Trainer.train_step`)"),
                       ("ours_no_recompute", "ours, parity, no activation checkpointing (`train_step`)"),
                       ("ours_paper", "ours, paper losses")):
        r = s["train"].get(key)
        if r is None:
            lines.append(f"| {label} | failed or skipped | | | | | | | | | | |")
            continue
        p = r["phases"]
        split = (" | ".join(_f(p.get(k)) for k in ("generator_forward", "discriminators_forward", "losses", "backward",
                                                   "optimizers", "d_update", "g_update", "teacher_features"))
                 if key not in ("ours_trainer", "ours_no_recompute") else " | ".join(["–"] * 8))
        lines.append(f"| {label} | {_f(r['wall'])} | {_f(r['cpu'])} | {split} | {_g(r['peak_rss_process'])} |")
    sp = s["ratios"]
    lines += [
        "",
        f"**Speed-up (peer / ours, steady step, `Trainer.train_step` as `tokenizer-bench train` runs it):** wall "
        f"{_f(sp.get('train_trainer_wall'))}x, CPU time {_f(sp.get('train_trainer_cpu'))}x. Without activation "
        f"checkpointing: wall {_f(sp.get('train_no_recompute_wall'))}x, CPU {_f(sp.get('train_no_recompute_cpu'))}x. "
        f"The instrumented run (a timer and memory probe around every phase, for the split above): wall "
        f"{_f(sp.get('train_wall'))}x, CPU {_f(sp.get('train_cpu'))}x. "
        "Target: >= 1.0 (no slower), aim >= 1.3.",
        f"**Peak memory (process, batch {st['batch']} x {st['seconds']} s):** "
        f"peer {_g(s['train']['peer'] and s['train']['peer']['peak_rss_process'])} GiB, "
        f"ours {_g(s['train']['ours_parity'] and s['train']['ours_parity']['peak_rss_process'])} GiB (parity), "
        f"{_g(s['train']['ours_paper'] and s['train']['ours_paper']['peak_rss_process'])} GiB (paper losses), "
        f"{_g(s['train'].get('ours_no_recompute') and s['train']['ours_no_recompute']['peak_rss_process'])} GiB "
        "(parity, no activation checkpointing). Target: < 6 GiB.",
        "",
        "## First step (k-means codebook initialisation)",
        "",
        "| implementation | first step wall (s) | estimated with all 50 k-means iterations (s) | k-means | "
        "peak RSS process (GiB) |",
        "|---|---|---|---|---|",
    ]
    fp, fo = s["first"].get("peer"), s["first"].get("ours")
    if fp:
        km = fp.get("kmeans", {})
        lines.append(f"| peer | {_f(fp['wall'])} | {_f(fp.get('wall_estimated_full_kmeans'))} | "
                     f"{km.get('iters_run')} of {km.get('configured_iters')} iterations run x "
                     f"{km.get('calls')} codebooks, "
                     f"{_f(km.get('seconds_per_iteration'), 3)} s/iteration on {km.get('samples')} vectors | "
                     f"{_g(fp['peak_rss_process'])} |")
    if fo:
        km = fo.get("kmeans") or []
        its = sorted({k["iterations"] for k in km if k}) if km else []
        lines.append(f"| ours | {_f(fo['wall'])} | same (runs in full) | iterations per codebook {its}, "
                     f"stops at the fixed point | {_g(fo['peak_rss_process'])} |")
    lines += ["", "## Encode / decode real-time factor", "",
              "Speed-up = peer time / our time, from wall time and (in brackets) from CPU time.", "",
              "| seconds x batch | peer enc RTF | ours enc RTF | enc speed-up | peer dec RTF | ours dec RTF | "
              "dec speed-up | "
              "peer peak extra MiB (enc/dec) | ours peak extra MiB (enc/dec) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in s["codec"]:
        pe, ou = row.get("peer"), row.get("ours")
        lines.append(
            f"| {row['seconds']:g} x {row['batch']} | {_f(pe and pe['encode_rtf'], 3)} | "
            f"{_f(ou and ou['encode_rtf'], 3)} | "
            f"{_f(ratio(pe and pe['encode_rtf'], ou and ou['encode_rtf']))} "
            f"({_f(ratio(pe and pe['encode_cpu_s'], ou and ou['encode_cpu_s']))}) | {_f(pe and pe['decode_rtf'], 3)} | "
            f"{_f(ou and ou['decode_rtf'], 3)} | {_f(ratio(pe and pe['decode_rtf'], ou and ou['decode_rtf']))} "
            f"({_f(ratio(pe and pe['decode_cpu_s'], ou and ou['decode_cpu_s']))}) | "
            f"{_f(pe and pe['encode_peak_extra_mib'], 0)}/{_f(pe and pe['decode_peak_extra_mib'], 0)} | "
            f"{_f(ou and ou['encode_peak_extra_mib'], 0)}/{_f(ou and ou['decode_peak_extra_mib'], 0)} |")
    if s.get("baselines"):
        lines += ["", "### Baselines (ours, random init)", "",
                  "| tokenizer | seconds x batch | enc RTF | dec RTF | peak extra MiB (enc/dec) |",
                  "|---|---|---|---|---|"]
        for row in s["baselines"]:
            lines.append(f"| {row['tokenizer']} | {row['seconds']:g} x {row['batch']} | {_f(row['encode_rtf'], 3)} | "
                         f"{_f(row['decode_rtf'], 3)} | {_f(row['encode_peak_extra_mib'], 0)}/"
                         f"{_f(row['decode_peak_extra_mib'], 0)} |")
    lines += ["", "## Cost growth with input length (batch 1, least-squares line)", "",
              "| side | encode s per audio s (R²) | decode s per audio s (R²) | encode MiB per audio s (R²) | "
              "decode MiB per audio s (R²) |", "|---|---|---|---|---|"]
    for side, gr in s["growth"].items():
        if not gr:
            continue
        cell = lambda k, nd=3: f"{_f(gr[k]['slope'], nd)} ({_f(gr[k]['r2'], 3)})"  # noqa: E731
        lines.append(f"| {side} | {cell('encode_s')} | {cell('decode_s')} | {cell('encode_peak_extra_mib', 1)} | "
                     f"{cell('decode_peak_extra_mib', 1)} |")
    lines += ["", "## Noise and caveats", ""] + [f"- {n}" for n in report["notes"]] + [""]
    failed = [e for e in report["runs"] if "cmd" in e and e.get("returncode") != 0]
    if failed:
        lines += ["## Failed runs", ""]
        lines += [f"- `{' '.join(map(str, e['cmd']))}`: {e['returncode']}" for e in failed] + [""]
    return "\n".join(lines)


def write_index(results: Path) -> None:
    """``benchmarks/results/README.md``: one line per results file present."""
    descriptions = {
        "peer_comparison.md": "ours vs. speechtokenizer 1.0.1: training step, first step, encode/decode RTF, growth "
                              "(`benchmarks/perf/compare_peer.py`)",
        "peer_comparison.json": "raw data (every run, environment, summary) behind `peer_comparison.md`",
        "profile_train_step.md": "where the time of our training step goes, and optimisation candidates "
                                 "(`benchmarks/perf/profile_train_step.py`)",
        "profile_train_step.json": "raw profiler tables behind `profile_train_step.md`",
        "host_memory.md": "heap reuse on CPU, before / after: time, kernel time, page faults, peak "
                          "(`benchmarks/perf/host_memory.py`)",
        "discriminator_update.md": "the discriminator update alone, ours vs speechtokenizer 1.0.1 per "
                                   "discriminator: CPU time, variants, top operators "
                                   "(`benchmarks/perf/discriminator_update.py`)",
        "discriminator_update.json": "raw data behind `discriminator_update.md`",
        "quality_small_scale.md": "does it train? variants at an equal budget scored through `tokenizer-bench "
                                  "compare`, CIs, learning curve, plots in `quality_small_scale/` "
                                  "(`benchmarks/quality/small_scale.py`)",
        "quality_small_scale.json": "the numbers behind it (per variant: metrics with CIs, training facts, "
                                    "codebook usage; paired differences)",
        "quality_small_scale/compare_results.md": "the harness's almost-stochastic-order table of every "
                                                  "variant pair behind `quality_small_scale.md`",
        "quality_lr3e-4/quality_small_scale.md": "the six-variant default run at the previous base lr 3e-4 "
                                                 "(mel readings and the official init included)",
        "peer_rerun/README.md": "the peer comparison after the fused weight norm: the whole rerun's step and "
                                "what bounds it below 1.3x, in numbers; an earlier partial rerun (raw results "
                                "beside it)",
        "quality_long_lr1e-3/quality_small_scale.md": "the `lm` variant at the base lr 1e-3 continued past the "
                                                      "default budget: learning curve through compare and the "
                                                      "budget its fit names for STOI 0.75",
        "quality_long_lr1e-3/README.md": "how the lr-1e-3 continuation was made (commands, provenance of its "
                                         "first 700 steps)",
        "quality_long/quality_small_scale.md": "the `lm` variant at lr 3e-4 continued to 1,500 steps: learning "
                                               "curve over 100-1,500 steps through compare "
                                               "(`benchmarks/quality/small_scale.py --work runs/quality_long "
                                               "--variants lm --steps 1500 ...`)",
    }
    # the files of this folder, and the Markdown files one folder down (a continued run, an ASO table)
    files = sorted([p.name for p in results.iterdir() if p.is_file() and p.name != "README.md"]
                   + [f"{d.name}/{m.name}" for d in results.iterdir() if d.is_dir() for m in d.glob("*.md")])
    lines = ["# Benchmark results", "",
             "Each file is written by the script named next to it; rerun the script to refresh it. Timings come "
             "from a shared 2-core CPU unless a file says otherwise: compare ratios, not absolute times, across "
             "machines.", ""]
    for name in files:
        desc = descriptions.get(name)
        if desc is None:
            stem = name.rsplit(".", 1)[0]
            desc = f"written by `benchmarks/perf/{stem}.py`" if (HERE / f"{stem}.py").is_file() else ""
        lines.append(f"- [`{name}`]({name}){' — ' + desc if desc else ''}")
    (results / "README.md").write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny inputs: checks that everything runs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--steps", type=int, default=2, help="timed steady steps per process (after 1 warm-up)")
    p.add_argument("--repeats", type=int, default=1, help="processes per side for the steady training step")
    p.add_argument("--peer-kmeans-iters", type=int, default=3, help="peer k-means iterations actually run (of 50)")
    p.add_argument("--codec-seconds", default="1,10,60")
    p.add_argument("--codec-batches", default="1,16")
    p.add_argument("--max-codec-audio", type=float, default=160.0,
                   help="skip codec cells with more audio seconds (seconds x batch) than this")
    p.add_argument("--baselines", default="encodec,facodec", help="our baseline tokenizers to time ('' for none)")
    p.add_argument("--max-baseline-audio", type=float, default=60.0,
                   help="time the baselines only on codec cells with at most this many audio seconds")
    p.add_argument("--skip", default="",
                   help="comma list of parts to skip: train,first,paper,trainer,no_recompute,codec")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--reuse", default="", help="comma list of parts (train,first,codec) whose raw results are taken "
                   "from --reuse-from instead of being measured again")
    p.add_argument("--reuse-from", default=str(RESULTS / "peer_comparison.json"))
    p.add_argument("--peer-python", default=str(PEER_PY))
    p.add_argument("--out-dir", default=None,
                   help=f"default: {RESULTS} (with --quick: benchmarks/perf/.work/, which git ignores)")
    p.add_argument("--render-only", action="store_true", help="rewrite the .md from the existing .json")
    args = p.parse_args(argv)
    out_dir = Path(args.out_dir) if args.out_dir else (HERE / ".work" if args.quick else RESULTS)
    if args.render_only:
        report = json.loads((out_dir / "peer_comparison.json").read_text())
        (out_dir / "peer_comparison.md").write_text(markdown(report))
        return 0
    if not Path(args.peer_python).is_file():
        if Path(args.peer_python) != PEER_PY:
            raise SystemExit(f"--peer-python {args.peer_python}: not found")
        print(f"[compare_peer] building the peer environment ({PEER_PY.parent.parent}): "
              "bash benchmarks/perf/peer_env.sh", flush=True)
        if subprocess.run(["bash", str(HERE / "peer_env.sh")]).returncode != 0:
            raise SystemExit("benchmarks/perf/peer_env.sh failed (see above); the peer side needs it")
    if args.quick:
        args.batch, args.seconds, args.steps = 1, 1.0, 1
        args.codec_seconds, args.codec_batches, args.max_codec_audio = "1,2", "1,2", 4.0
    skip = {x for x in args.skip.split(",") if x}
    ours_py = sys.executable
    durations = [float(x) for x in args.codec_seconds.split(",") if x]
    batches = [int(x) for x in args.codec_batches.split(",") if x]
    common = ["--threads", str(args.threads)]
    tr = ["--batch", str(args.batch), "--seconds", str(args.seconds)]
    log: list[dict] = []
    for stale in (HERE / ".work" / "partial").glob("*.json"):
        stale.unlink()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t_start = time.perf_counter()
    load_before = M.load_average()
    raw: dict[str, Any] = {"train": {"peer": [], "ours_parity": [], "ours_trainer": [], "ours_no_recompute": [],
                                     "ours_paper": []},
                           "first": {}, "codec": [], "baselines": []}
    timeout = args.timeout

    reuse = {x for x in args.reuse.split(",") if x}
    if reuse:
        previous = json.loads(Path(args.reuse_from).read_text())
        for part in reuse:
            raw[part] = previous["raw"][part]
            log.append({"reused": part, "from": args.reuse_from, "measured": previous["started"]})
        skip |= reuse
    if "train" not in skip:
        for _ in range(args.repeats):
            steady = ["train", "--mode", "steady", "--steps", str(args.steps), *tr, *common]
            raw["train"]["peer"].append(run_side(args.peer_python, "peer_speechtokenizer.py", steady, timeout, log))
            raw["train"]["ours_parity"].append(run_side(ours_py, "ours_train_codec.py", steady, timeout, log))
            if "trainer" not in skip:
                raw["train"]["ours_trainer"].append(
                    run_side(ours_py, "ours_train_codec.py", [*steady, "--impl", "trainer"], timeout, log))
            if "no_recompute" not in skip:
                raw["train"]["ours_no_recompute"].append(run_side(
                    ours_py, "ours_train_codec.py",
                    [*steady, "--impl", "trainer", "--trainer-option", "activation_checkpointing=[]"], timeout, log))
            if "paper" not in skip:
                raw["train"]["ours_paper"].append(
                    run_side(ours_py, "ours_train_codec.py", [*steady, "--variant", "paper"], timeout, log))
    if "first" not in skip:
        first = ["train", "--mode", "first", *tr, *common]
        raw["first"]["peer"] = run_side(args.peer_python, "peer_speechtokenizer.py",
                                        [*first, "--kmeans-iters", str(args.peer_kmeans_iters)], timeout, log)
        raw["first"]["ours"] = run_side(ours_py, "ours_train_codec.py", first, timeout, log)
    skipped_cells: list[str] = []
    skipped_baselines: list[str] = []
    if "codec" not in skip:
        for b in batches:
            for d in durations:
                if d * b > args.max_codec_audio:
                    skipped_cells.append(f"{d:g} s x {b}")
                    continue
                reps = ["--min-repeats", "3" if d * b <= 20 else "2", "--min-seconds", "0" if d * b > 20 else "3"]
                cell = ["codec", "--seconds", str(d), "--batch", str(b), *reps, *common]
                sides = {
                    "peer": lambda: run_side(args.peer_python, "peer_speechtokenizer.py", cell, timeout, log),
                    "ours": lambda: run_side(ours_py, "ours_train_codec.py", [*cell, "--tokenizer", "dm_codec"],
                                             timeout, log),
                }
                # two processes per side in the order peer, ours, ours, peer, pooled: the first process
                # after another one ran measurably slower, so neither side may always be first
                order = ["peer", "ours", "ours", "peer"]
                runs: dict[str, list] = {"peer": [], "ours": []}
                for side in order:
                    runs[side].append(sides[side]())
                raw["codec"].append({"seconds": d, "batch": b, "order": order,
                                     **{side: pool_codec(r) for side, r in runs.items()}})
                if d * b > args.max_baseline_audio:
                    skipped_baselines.append(f"{d:g} s x {b}")
                    continue
                for name in [x for x in args.baselines.split(",") if x]:
                    res = run_side(ours_py, "ours_train_codec.py", [*cell, "--tokenizer", name], timeout, log)
                    raw["baselines"].append({"tokenizer": name, "seconds": d, "batch": b, "result": res})

    # ------------------------------------------------------------------ summary
    train = {k: pooled(v) for k, v in raw["train"].items()}
    first = {k: first_summary(v) for k, v in raw["first"].items()}
    codec_rows = [{"seconds": c["seconds"], "batch": c["batch"], "peer": codec_summary(c["peer"]),
                   "ours": codec_summary(c["ours"])} for c in raw["codec"]]
    baselines = [{"tokenizer": b["tokenizer"], **codec_summary(b["result"])} for b in raw["baselines"] if b["result"]]
    grow = {}
    for side in ("peer", "ours"):
        rows = [r[side] for r in codec_rows if r["batch"] == 1 and r[side]]
        grow[side] = growth(rows) if len(rows) >= 2 else None
    for name in sorted({b["tokenizer"] for b in baselines}):
        rows = [b for b in baselines if b["tokenizer"] == name and b["batch"] == 1]
        grow[name] = growth(rows) if len(rows) >= 2 else None
    tp, to, tt = train.get("peer"), train.get("ours_parity"), train.get("ours_trainer")
    tn = train.get("ours_no_recompute")
    ratios = {
        "train_trainer_cpu": ratio(tp and tp["cpu"], tt and tt["cpu"]),
        "train_no_recompute_wall": ratio(tp and tp["wall"], tn and tn["wall"]),
        "train_no_recompute_cpu": ratio(tp and tp["cpu"], tn and tn["cpu"]),
        "train_wall": ratio(tp and tp["wall"], to and to["wall"]),
        "train_cpu": ratio(tp and tp["cpu"], to and to["cpu"]),
        "train_trainer_wall": ratio(tp and tp["wall"], tt and tt["wall"]),
        "train_peak_rss": ratio(to and to["peak_rss_process"], tp and tp["peak_rss_process"]),
        "first_step_wall_estimated": ratio(first.get("peer") and first["peer"].get("wall_estimated_full_kmeans"),
                                           first.get("ours") and first["ours"]["wall"]),
        "codec": [{"seconds": r["seconds"], "batch": r["batch"],
                   "encode": ratio(r["peer"] and r["peer"]["encode_s"], r["ours"] and r["ours"]["encode_s"]),
                   "decode": ratio(r["peer"] and r["peer"]["decode_s"], r["ours"] and r["ours"]["decode_s"]),
                   "encode_cpu": ratio(r["peer"] and r["peer"]["encode_cpu_s"],
                                       r["ours"] and r["ours"]["encode_cpu_s"]),
                   "decode_cpu": ratio(r["peer"] and r["peer"]["decode_cpu_s"],
                                       r["ours"] and r["ours"]["decode_cpu_s"])}
                  for r in codec_rows],
    }
    load_after = M.load_average()
    notes = [
        "Each figure is the median of the timed steps of a process (and across processes when --repeats > 1). "
        "Wall time counts time the process waited for a core; CPU time (all threads) is less sensitive to other "
        "processes on the machine. With a load average above the 2 cores, wall times are inflated and both ratios "
        "should be read with about ±15 % noise (compare the raw per-step values in the JSON).",
        "Peak RSS is the kernel's ru_maxrss of the measuring process (model, optimiser states, activations and "
        "allocator caches included); 'peak extra' for the codec is the sampled RSS peak above the RSS after model "
        "build and warm-up.",
        f"The peer's first step runs its k-means with {args.peer_kmeans_iters} of the configured 50 iterations; the "
        "'estimated' column adds the remaining iterations at the measured per-iteration cost (each iteration does "
        "identical work). Ours runs its k-means in full: at batch 2 x 3 s there are only 300 vectors for 1024 codes, "
        "so every vector becomes its own centroid and Lloyd's algorithm reaches its fixed point in 2 iterations.",
        "The peer's composed step follows SpeechTokenizerTrainer.train line by line (the teacher feature is a random "
        "[T, 768] file read with np.load as its dataset does); CosineAnnealingLR, logging and accelerate wrappers are "
        "omitted on both sides (no per-step cost on one CPU process).",
        "Our step (the shipped paper config's trainer settings) runs one discriminator at a time, each "
        "back-propagated before the next (same gradients: tests/core/training/test_discriminator_passes.py), "
        "concatenates real and generated audio in the discriminator update, runs the real audio without a graph "
        "in the generator's pass with the discriminators frozen, recomputes the generator's encoder and decoder in "
        "backward (activation checkpointing; the 'no activation checkpointing' row shows the step without it), "
        "uses fused Adam and trims the C heap after each step. The peer runs the discriminators on real and "
        "generated audio separately, all at once, and accumulates discriminator gradients it then discards.",
    ]
    if reuse:
        notes.append(f"Reused from the run of {previous['started']} (same code for those parts; `--reuse "
                     f"{','.join(sorted(reuse))}`): the {', '.join(sorted(reuse))} measurements.")
    notes.append("Our tokenizer calls reuse freed heap memory inside each call (no page faults per activation; "
                 "`tokenizer_bench.core.host_memory`) and overwrite fresh intermediates in place at inference "
                 "(ELU, residual and LSTM skip sums): that is where its speed-up and its larger peak within a "
                 "call come from (benchmarks/results/host_memory.md).")
    notes.append("Codec cells: two processes per side in the order peer, ours, ours, peer, timings pooled, with a "
                 f"{SETTLE_SECONDS:g} s pause before every process: in a single alternating run the process that "
                 "followed another measured up to 15 % slower whichever side it was.")
    if skipped_cells:
        notes.append(f"Codec cells skipped (more than {args.max_codec_audio:g} s of audio per call, i.e. minutes per "
                     f"call and > 10 GiB on the peer at batch 16): {', '.join(skipped_cells)}. Run with "
                     "--max-codec-audio 1000 to include them.")
    if skipped_baselines:
        notes.append(f"Baselines not timed on {', '.join(skipped_baselines)} "
                     f"(more than {args.max_baseline_audio:g} s of "
                     "audio; --max-baseline-audio raises the cap).")
    peer_env = next((r["env"] for r in [*raw["train"]["peer"], raw["first"].get("peer")] if r), None)
    if peer_env is None:
        peer_env = next((c["peer"]["env"] for c in raw["codec"] if c.get("peer")), None)
    report = {
        "started": started, "total_seconds": time.perf_counter() - t_start,
        "environment": M.environment("cpu"), "peer_environment": peer_env,
        "load_before": load_before, "load_after": load_after,
        "settings": {"quick": args.quick, "threads": args.threads, "batch": args.batch, "seconds": args.seconds,
                     "steps": args.steps, "repeats": args.repeats, "peer_kmeans_iters": args.peer_kmeans_iters,
                     "codec_seconds": durations, "codec_batches": batches, "max_codec_audio": args.max_codec_audio,
                     "baselines": args.baselines, "skip": sorted(skip)},
        "summary": {"train": train, "first": first, "codec": codec_rows, "baselines": baselines, "growth": grow,
                    "ratios": ratios},
        "notes": notes, "runs": log, "raw": raw,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "peer_comparison"
    M.write_json(out_dir / f"{stem}.json", report)
    (out_dir / f"{stem}.md").write_text(markdown(report))
    if out_dir.resolve() == RESULTS.resolve():
        write_index(out_dir)
    print(f"[compare_peer] wrote {out_dir / (stem + '.md')} and .json in {report['total_seconds'] / 60:.1f} min")
    print(f"[compare_peer] speed-up peer/ours (trainer step): wall {_f(ratios['train_trainer_wall'])}x, "
          f"CPU {_f(ratios['train_trainer_cpu'])}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Token-content probe on the quality benchmark's trained tokenizers vs a random-init one of the same size.

Writes ``benchmarks/results/token_probe.json`` (per-utterance errors included) and, with
``--report``, ``token_probe.md`` from one or more JSON parts (so rows can run in parallel
processes). Random init = the same generator config, untrained, with its codebooks set the way
training's first forward sets them (k-means on the random encoder's latents of the probe's
train split); without that step an RVQ with ``kmeans_init`` maps everything to code 0.

    python benchmarks/results/token_probe.py --rows mel,random,no_distillation --out /tmp/part1.json
    python benchmarks/results/token_probe.py --report /tmp/part1.json /tmp/part2.json
    python benchmarks/results/token_probe.py --rows mel,random --features rvq1,weighted --steps 2000 \
        --probe hidden=256 --probe conv_layers=5 --probe dropout=0.1 --probe lr_schedule=cosine \
        --probe warmup_steps=100 --probe time_masks=2 --probe feature_masks=2 --out /tmp/strong.json

``--probe KEY=VALUE`` sets any field of ``ProbeConfig`` (benchmarks/harness/probe.py); the rows of a
probe other than the defaults are named by those fields. ``--train`` adds training folders (their
utterances need an official transcript or one in the teacher cache ``--transcripts``, default the
quality benchmark's ``WORK/cache/teachers``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tokenizer_bench.benchmarks.harness import probe as P

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("no_distillation", "lm", "lm_sm", "mel_audiocraft")


def random_init_like(folder: Path, train_wavs: list[torch.Tensor], seed: int):
    """Untrained tokenizer of ``folder``'s config; codebooks k-means-initialised on its own latents."""
    from tokenizer_bench.plugins.tokenizers.dm_codec import DMCodecTokenizer

    gen = json.loads((folder / "config.json").read_text())["generator"]
    tok = DMCodecTokenizer.from_options(seed=seed, encoder=gen["encoder"], quantizer=gen["quantizer"],
                                        decoder=gen["decoder"])
    g = tok.generator
    with torch.no_grad():
        latent = torch.cat([g.encoder(w.reshape(1, 1, -1)) for w in train_wavs], dim=-1)
        torch.manual_seed(seed)
        g.quantizer.train()
        g.quantizer(latent)  # first training forward: k-means init of every level (as training does)
        g.quantizer.eval()
    return tok


def _data_root(given: Path | None) -> Path:
    from tokenizer_bench.core import paths

    root = given or paths.librispeech_mini_dir()
    if root is None or not Path(root).is_dir():
        raise SystemExit(f"error: no librispeech-mini folder ({given or 'none found'}): pass --data-root or set "
                         f"{paths.DATA_ENV} / {paths.SHARED_ENV}")
    return Path(root)


def _trained_label(variant: str, args) -> str:
    return f"trained {variant}" + (f" ({args.tag})" if args.tag else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="mel,random," + ",".join(VARIANTS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/token_probe.json"),
                    help="a probe part's JSON; with --report, the merged JSON (its .md beside it)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", nargs="*", help="JSON parts to merge into token_probe.md/json")
    ap.add_argument("--features", default="rvq1,sum")
    ap.add_argument("--stats", action="store_true", help="token statistics on test-other instead of the probe")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "quality",
                    help="the quality benchmark's work folder: WORK/<variant>/<variant> and WORK/cache/teachers")
    ap.add_argument("--data-root", type=Path, default=None,
                    help="a librispeech-mini folder (default: $TOKENIZER_BENCH_LIBRISPEECH_MINI or ../shared)")
    ap.add_argument("--tag", default="", help="appended to the trained rows' labels, e.g. '2100 training steps'")
    ap.add_argument("--probe", action="append", default=[], metavar="KEY=VALUE",
                    help="a ProbeConfig field (repeatable), e.g. hidden=256, lstm_layers=1, lr_schedule=cosine")
    ap.add_argument("--train", action="append", type=Path, default=[],
                    help="probe training folder (repeatable; default DATA_ROOT/train-clean-100)")
    ap.add_argument("--transcripts", type=Path, default=None,
                    help="teacher cache whose STT transcripts label the training folders (default WORK/cache/teachers)")
    ap.add_argument("--random-like", default="lm", metavar="VARIANT",
                    help="the trained variant whose config the random-init row copies (WORK/VARIANT/VARIANT)")
    ap.add_argument("--train-limit", type=int, default=None, help="use only the first N training utterances")
    args = ap.parse_args(argv)
    if args.report:
        return report([Path(p) for p in args.report], Path(args.out))
    args.data = _data_root(args.data_root)
    torch.set_num_threads(1)
    from tokenizer_bench.core.api import load_tokenizer

    if args.stats:
        return stats(args, load_tokenizer)

    from tokenizer_bench.benchmarks.harness.selection import parse_options

    args.probe_options = parse_options(args.probe, "--probe")
    # defaults: 3 conv x 128, no LSTM, batch 8, lr 3e-3 constant, no masks
    cfg = P.ProbeConfig(**{"steps": args.steps, "seed": args.seed, **args.probe_options})
    args.cache = args.transcripts or args.work / "cache" / "teachers"
    transcripts = P.cached_transcripts(args.cache)
    folders = args.train or [args.data / "train-clean-100"]
    train = [u for f in folders for u in P.load_split(f, transcripts)][: args.train_limit]
    test = P.load_split(args.data / "test-other")
    rows = args.rows.split(",")
    toks = {}
    for r in rows:
        if r == "random":
            toks["random init (same config)"] = random_init_like(args.work / args.random_like / args.random_like,
                                                                 [w for _, _, w, _ in train[:32]], args.seed)
        elif r != "mel":
            toks[_trained_label(r, args)] = load_tokenizer("dm_codec", str(args.work / r / r))
    args.n_train = len(train)
    t0 = time.time()
    out = P.run_probe_rows(toks, train, test, cfg, reference="mel" in rows, log=lambda m: print(m, flush=True),
                           feature_sets=args.features.split(","))
    payload = {"command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])), "probe": cfg.model_dump(),
               "train": {"source": ", ".join(str(f) for f in folders), "n": len(train),
                         "minutes": round(sum(w.numel() for _, _, w, _ in train) / 16000 / 60, 1),
                         "transcripts": f"official where present, else teacher cache STT (faster-whisper) in "
                                        f"{args.cache}"},
               "test": {"source": str(args.data / "test-other"), "n": len(test), "transcripts": "official"},
               "work": str(args.work),
               "seconds": time.time() - t0,
               "rows": {_key(k, args): (v if isinstance(v, str) else v.to_json()) for k, v in out.items()}}
    Path(args.out).write_text(json.dumps(payload, indent=1))
    print(f"wrote {args.out}")


def _key(row: str, args) -> str:
    """Row key in the merged table: seeds other than 0, step counts other than 400, probe fields other
    than the defaults and a training set other than the default's size are named."""
    probe = getattr(args, "probe_options", {})
    return (row + (f" ({args.steps} steps)" if args.steps != 400 else "")
            + (f" (probe {', '.join(f'{k}={v}' for k, v in probe.items())})" if probe else "")
            + (f" ({args.n_train} train utterances)" if getattr(args, "n_train", 251) != 251 else "")
            + (f" (seed {args.seed})" if args.seed else ""))


def stats(args, load_tokenizer) -> None:
    from tokenizer_bench.benchmarks.harness.tokens import token_statistics

    test = P.load_split(args.data / "test-other")
    train = P.load_split(args.data / "train-clean-100", P.cached_transcripts(args.work / "cache" / "teachers"))
    result = {}
    for r in args.rows.split(","):
        if r == "mel":
            continue
        if r == "random":
            tok, label = random_init_like(args.work / "lm" / "lm", [w for _, _, w, _ in train[:32]], args.seed), \
                "random init (same config)"
        else:
            tok, label = load_tokenizer("dm_codec", str(args.work / r / r)), _trained_label(r, args)
        result[label] = token_statistics(tok, [w for _, _, w, _ in test])
        print(label, result[label]["entropy_bitrate"], flush=True)
    Path(args.out).write_text(json.dumps({"command": " ".join(["token_probe.py"] + (argv_or_default(args))),
                                          "token_stats": result}, indent=1))


def argv_or_default(args) -> list[str]:
    return ["--stats", "--rows", args.rows, "--out", args.out]


def pooled_over_seeds(rows: dict) -> list[str]:
    """Markdown: each feature's per-utterance errors summed over its seeds (its mean CER over the
    seeds), paired against the random init of the same step count on the same seeds. The bootstrap
    resamples test utterances (all seeds of an utterance together); only rows whose seeds are all
    present on both sides are paired, and the seed count is named."""
    groups: dict[str, dict[str, dict]] = {}
    for k, v in rows.items():
        if isinstance(v, str):
            continue
        base, _, seed = k.partition(" (seed ")
        groups.setdefault(base, {})[seed[:-1] or "0"] = v

    def pooled(by_seed: dict[str, dict], seeds: list[str]) -> list[dict]:
        out = []
        for i, first in enumerate(by_seed[seeds[0]]["per_utterance"]):
            recs = [by_seed[s]["per_utterance"][i] for s in seeds]
            if any(r["id"] != first["id"] for r in recs):
                raise ValueError(f"seeds scored different utterances at position {i}")
            out.append({"id": first["id"], "errors": sum(r["errors"] for r in recs),
                        "ref_chars": sum(r["ref_chars"] for r in recs)})
        return out

    table = []
    for base, by_seed in groups.items():
        if base.startswith("random init") or len(by_seed) < 2 or ("]" not in base and "(log-mel)" not in base):
            continue
        which = "rvq1" if "[rvq1]" in base or "(log-mel)" in base else "sum"
        suffix = base.split("]", 1)[1] if "]" in base else base.split("(log-mel)", 1)[1]
        rand = groups.get(f"random init (same config) [{which}]{suffix}", {})
        seeds = sorted(set(by_seed) & set(rand))
        if len(seeds) < 2:
            continue
        d = P.paired_difference(pooled(by_seed, seeds), pooled(rand, seeds))
        mean = sum(by_seed[s]["cer"] for s in seeds) / len(seeds)
        mean_r = sum(rand[s]["cer"] for s in seeds) / len(seeds)
        table.append(f"| {base} | random init [{which}]{suffix} | {len(seeds)} ({', '.join(seeds)}) | {mean:.3f} | "
                     f"{mean_r:.3f} | {d['diff']:+.3f} | [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}] | "
                     f"{d['p_not_lower']:.3f} |")
    if not table:
        return []
    return ["", "Pooled over seeds (each utterance's errors summed over the seeds; paired bootstrap over the test "
            "utterances, 1000 resamples; p = fraction of resamples where the row is not lower):", "",
            "| features | vs | seeds | mean CER | random init's | difference | 95 % CI | p |",
            "|---|---|---|---:|---:|---:|---|---:|"] + table


TRAINED_SEED_ROW = re.compile(r"^trained (?P<variant>.+)_s(?P<seed>\d+) \[(?P<features>\w+)\](?P<suffix>.*)$")


def across_training_seeds(rows: dict, reference: str | None = None) -> list[str]:
    """Markdown: rows named ``trained <variant>_s<seed> [<features>]...`` pooled over their training
    seeds (corpus CER = errors summed over seeds and utterances / characters), and each variant minus
    the ``reference`` variant (same seed, same utterance; default: the variant whose name ends in
    ``no_distillation``), with 95 % intervals of a two-level bootstrap (seeds, then one utterance draw
    shared by the drawn seeds; summary.py)."""
    from tokenizer_bench.benchmarks.quality.summary import two_level_bootstrap_ratios

    groups: dict[tuple[str, str, str], dict[int, dict]] = {}
    for k, v in rows.items():
        m = TRAINED_SEED_ROW.match(k)
        if m and not isinstance(v, str):
            groups.setdefault((m["variant"], m["features"], m["suffix"]), {})[int(m["seed"])] = v
    if not groups:
        return []
    if reference is None:
        reference = next((v for v, _, _ in sorted(groups) if v.endswith("no_distillation")), "")

    def table(by_seed: dict[int, dict], seeds: list[int], key: str) -> np.ndarray:
        out = []
        for s in seeds:
            per = by_seed[s]["per_utterance"]
            if [p["id"] for p in per] != [p["id"] for p in by_seed[seeds[0]]["per_utterance"]]:
                raise ValueError(f"seed {s} was scored on other utterances than seed {seeds[0]}")
            out.append([p[key] for p in per])
        return np.array(out, dtype=float)

    def ci(num: np.ndarray, den: np.ndarray, sign: str = "+") -> str:
        d = two_level_bootstrap_ratios(num, den, seed=0, draws=4000)
        lo, hi = np.percentile(d, [2.5, 97.5])
        return f"{num.sum() / den.sum():{sign}.3f} [{lo:{sign}.3f}, {hi:{sign}.3f}]"

    pooled, diffs = [], []
    for (variant, feats, suffix), by_seed in sorted(groups.items()):
        seeds = sorted(by_seed)
        e, n = table(by_seed, seeds, "errors"), table(by_seed, seeds, "ref_chars")
        per_seed = " / ".join(f"{by_seed[s]['cer']:.3f}" for s in seeds)
        pooled.append(f"| {variant} [{feats}]{suffix} | {', '.join(map(str, seeds))} | {per_seed} | "
                      f"{ci(e, n, sign='')} |")
        ref = groups.get((reference, feats, suffix))
        if variant == reference or ref is None:
            continue
        common = [s for s in seeds if s in ref]
        if not common:
            continue
        d = table(by_seed, common, "errors") - table(ref, common, "errors")
        per_seed_d = " / ".join(f"{by_seed[s]['cer'] - ref[s]['cer']:+.3f}" for s in common)
        diffs.append(f"| {variant} − {reference} [{feats}]{suffix} | {', '.join(map(str, common))} | {per_seed_d} | "
                     f"{ci(d, table(ref, common, 'ref_chars'))} |")
    return (["", "Across training seeds (corpus CER pooled over seeds and utterances; 95 % interval of a two-level "
             "bootstrap: training seeds resampled, then the test utterances, one draw shared by the drawn seeds; "
             "4,000 draws):", "", "| features | seeds | CER per seed | pooled CER [95 % CI] |", "|---|---|---|---|"]
            + pooled + ["", "| difference | seeds | per seed | pooled difference [95 % CI] |", "|---|---|---|---|"]
            + diffs)


def report(parts: list[Path], out: Path = ROOT / "benchmarks/results/token_probe.json") -> None:
    """Merge probe parts into ``out`` (JSON) and the Markdown table beside it (same stem, ``.md``)."""
    merged: dict = {}
    token_stats = {}
    for p in parts:
        d = json.loads(p.read_text())
        if "token_stats" in d:
            token_stats.update(d["token_stats"])
            merged.setdefault("commands", []).append(d["command"])
            continue
        rows = merged.setdefault("rows", {})
        rows.update(d.pop("rows"))
        merged.setdefault("commands", []).append(d.pop("command"))
        merged.setdefault("seconds", []).append(d.pop("seconds"))
        for k, v in d.items():
            merged.setdefault(k, v)  # probe settings and splits: the first part's (seeds differ per row key)
    rows = merged["rows"]
    lines = ["# Token-content probe on the quality benchmark's tokenizers", "",
             "Do the frozen tokens carry the words? A CTC character probe "
             f"({merged['probe']['conv_layers']} Conv1d+GELU layers of {merged['probe']['hidden']}, linear; "
             f"{merged['probe']['steps']} Adam steps of {merged['probe']['batch_size']} utterances, lr "
             f"{merged['probe']['lr']} ({merged['probe'].get('lr_schedule', 'constant')}), "
             f"{merged['probe'].get('time_masks', 0)} time and {merged['probe'].get('feature_masks', 0)} feature "
             f"masks, seed {merged['probe']['seed']}, 1 CPU thread) trained on "
             f"{merged['train']['n']} train-clean-100 utterances (transcripts: {merged['train']['transcripts']}) and "
             f"scored by corpus CER on {merged['test']['n']} test-other utterances (official transcripts; 10 speakers, "
             f"none in train). Tokenizers: {merged.get('work', 'runs/quality')}/<variant>/<variant>; random "
             "init = the same config untrained, codebooks k-means-initialised on its own latents of 32 train "
             "utterances (what training's first step does).", "",
             "Commands:", ""] + [f"    python benchmarks/results/{c}" for c in merged["commands"]] + [
             "    python benchmarks/results/token_probe.py --report <parts>", "",
             "| features | CER | 95 % CI (bootstrap over the 100 test utterances) |", "|---|---:|---|"]
    for k, v in rows.items():
        lines.append(f"| {k} | – | {v} |" if isinstance(v, str) else
                     f"| {k} | {v['cer']:.3f} | [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}] |")
    pairs = []

    def pair(k: str, base_name: str) -> None:
        v, base = rows.get(k), rows.get(base_name)
        if v is None or base is None or isinstance(v, str) or isinstance(base, str):
            return
        d = P.paired_difference(v["per_utterance"], base["per_utterance"])
        pairs.append(f"| {k} | {base_name} | {d['diff']:+.3f} | [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}] | "
                     f"{d['p_not_lower']:.3f} |")

    suffixes = sorted({k.split("]", 1)[1] for k in rows if k.startswith("random init (same config) [")})
    for suffix in suffixes:
        for which in ("rvq1", "sum"):
            tag = f"[{which}]{suffix}"
            rand = f"random init (same config) {tag}"
            pair(f"original (log-mel){suffix}", rand)
            trained = [k for k in rows if k.startswith("trained ") and k.endswith(tag)]
            for k in trained:
                pair(k, rand)
            for k in trained:
                if "no_distillation" not in k:
                    pair(k, f"trained no_distillation {tag}")
    lines += ["", "Paired differences (same test utterances, 1000 paired bootstrap resamples; p = fraction of "
              "resamples where the row is not lower):", "",
              "| row | vs | CER difference | 95 % CI | p |", "|---|---|---:|---|---:|"] + pairs
    by_seed: dict[str, dict[str, float]] = {}
    for k, v in rows.items():
        if isinstance(v, str):
            continue
        base, _, seed = k.partition(" (seed ")
        by_seed.setdefault(base, {})[seed[:-1] or "0"] = v["cer"]
    multi = {k: v for k, v in by_seed.items() if len(v) > 1}
    if multi:
        lines += ["", "Across seeds (probe seed and, for the random init, the init seed too):", "",
                  "| features | CER per seed | mean | range |", "|---|---|---:|---:|"]
        for k, v in multi.items():
            vals = list(v.values())
            lines.append(f"| {k} | " + " / ".join(f"{x:.3f} (seed {s})" for s, x in v.items())
                         + f" | {sum(vals) / len(vals):.3f} | {max(vals) - min(vals):.3f} |")
    lines += pooled_over_seeds(rows)
    lines += across_training_seeds(rows)
    if token_stats:
        from tokenizer_bench.benchmarks.harness.tokens import stats_markdown

        lines += ["", f"Token statistics of the same tokenizers over the {merged['test']['n']} test-other utterances "
                  "(utilisation = distinct codes used / 256; entropy-coded bit/s = sum of per-codebook entropies x 50 "
                  "frames/s):", "", stats_markdown(token_stats)]
        merged["token_stats"] = token_stats
    text = "\n".join(lines) + "\n"
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(merged, indent=1))
    print(text)


if __name__ == "__main__":
    main()

"""Corpus WER / WIL of the distillation table pooled over training seeds, with a two-level bootstrap.

The small-scale summary's pooled table uses per-utterance means, which Whisper's insertions on short
utterances make noisy. This recomputes the corpus figure (Σ errors / Σ reference words, errors =
per-utterance WER × reference words; WIL weighted the same way, an approximation) from a
``tokenizer-bench compare`` records file, and its 95 % interval by resampling training seeds, then
utterances (one draw shared by the drawn seeds: the same test items), 4,000 draws.

    python benchmarks/results/quality_fast/corpus_wer.py RECORDS.jsonl LABEL_PATTERN
    # LABEL_PATTERN e.g. "dm_codec (t_{variant}_s{seed})"
"""

from __future__ import annotations

import json
import sys

import numpy as np

from tokenizer_bench.benchmarks.quality.summary import two_level_bootstrap_ratios

VARIANTS, REFERENCE, SEEDS = ("no_distillation", "lm", "lm_sm"), "no_distillation", (42, 43, 44)


def main(records_path: str, pattern: str, draws: int = 4000) -> None:
    recs = {}
    for line in open(records_path):
        r = json.loads(line)
        if r.get("status") == "ok" and "wer" in r.get("metrics", {}):
            recs[(r["system"], r["utt_id"])] = r
    utts = sorted({u for _, u in recs})

    def errors(variant: str, seed: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
        rows = [recs[(pattern.format(variant=variant, seed=seed), u)] for u in utts]
        words = np.array([len(r["reference_text"].split()) for r in rows], dtype=float)
        return np.array([r["metrics"][metric] for r in rows]) * words / 100.0, words

    def ci(e: np.ndarray, n: np.ndarray) -> list[float]:
        out = two_level_bootstrap_ratios(e, np.broadcast_to(n, e.shape), seed=0, draws=draws) * 100
        return [round(float(x), 2) for x in np.percentile(out, [2.5, 97.5])]

    for metric in ("wer", "wil"):
        table = {v: np.stack([errors(v, s, metric)[0] for s in SEEDS]) for v in VARIANTS}
        n = errors(REFERENCE, SEEDS[0], metric)[1]
        for v, e in table.items():
            print(f"{metric} {v}: corpus {e.sum() / (n.sum() * len(SEEDS)) * 100:.2f} "
                  f"per seed {[round(float(x), 2) for x in e.sum(1) / n.sum() * 100]} CI {ci(e, n)}")
        for v in VARIANTS:
            if v != REFERENCE:
                d = table[v] - table[REFERENCE]
                print(f"{metric} {v} - {REFERENCE}: {d.sum() / (n.sum() * len(SEEDS)) * 100:+.2f} "
                      f"per seed {[round(float(x), 2) for x in d.sum(1) / n.sum() * 100]} CI {ci(d, n)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""From per-utterance records to per-system figures.

For each system and metric: the number of utterances scored (``n``), the number excluded and
why (failed reconstruction, missing reference transcript, a metric error, not computed yet),
the per-utterance mean, sample standard deviation (ddof = 1) and median, and for corpus-level
metrics (WER/WIL) the score over all scored sentences concatenated. The *primary* value (the one
the Table-1-style table shows) is the corpus score where one exists, else the mean, matching the
paper: Table 1 gives corpus-level WER/WIL and mean ViSQOL/STOI, Table 2 per-sentence mean +- std.

Comparable rows (``mode="common"``, the default): per metric, every row's figures are computed
over the same utterances, those that *every* row the metric applies to scored (the ground truth
only for transcript metrics). A failure of one system therefore removes that utterance from every
row of the metric instead of silently making that row's average easier; the failure itself is
still listed and counted per system. A row that scored *none* of the utterances for a metric (a
tokenizer that fails on every input) does not narrow the set: it would empty the metric's column
for every row, so one broken baseline would erase the table; it shows no value, its failures are
listed and the aggregation statement names it. ``mode="per-row"`` keeps each row's own scored set (the
harness's behaviour before comparable rows; rows may then average different utterances).
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any, Callable, Mapping, Sequence

NOT_COMPUTED = "not computed (run interrupted before this utterance)"
NOT_COMMON = "scored here, but not by every row (comparable rows)"
AGGREGATION_MODES = ("common", "per-row")


def system_rows(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows in table order: ground truth (if any), then systems as listed (baselines first)."""
    rows = []
    gt = run.get("ground_truth")
    if gt:
        rows.append({"label": gt["label"], "key": gt["key"], "ground_truth": True, "ranked": False, "info": None})
    for s in run["systems"]:
        rows.append({"label": s["label"], "key": s["key"], "ground_truth": False, "ranked": s.get("ranked", True),
                     "info": s.get("info"), "slug": s.get("slug", s["label"])})
    return rows


def applicable(metric: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """The ground-truth row has only transcript metrics (ASR on the original audio)."""
    return metric["kind"] == "text" if row["ground_truth"] else True


def _short_reason(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


def aggregate(run: Mapping[str, Any], records: Mapping[tuple[str, str], dict], utt_ids: Sequence[str],
              corpus_scorers: Mapping[str, Callable[[list[str], list[str]], float]] | None = None,
              mode: str = "common") -> dict[str, Any]:
    """Aggregates for every row and metric, plus per-utterance score maps for significance/plots.

    ``mode``: ``common`` (comparable rows, see module docstring) or ``per-row``. The result's
    ``aggregation`` entry says which, with the number of utterances per metric and of failures.
    """
    if mode not in AGGREGATION_MODES:
        raise ValueError(f"unknown aggregation {mode!r}; choose one of {', '.join(AGGREGATION_MODES)}")
    corpus_scorers = corpus_scorers or {}
    metrics = run["metrics"]
    out_rows: dict[str, Any] = {}
    scores: dict[str, dict[str, dict[str, float]]] = {m: {} for m in metrics}
    rows = system_rows(run)
    common = _common_sets(metrics, rows, records, utt_ids) if mode == "common" else {}
    for row in rows:
        recs = {u: records.get((row["key"], u)) for u in utt_ids}
        failures = {u: r["error"] for u, r in recs.items() if r is not None and r.get("status") == "failed"}
        missing = [u for u, r in recs.items() if r is None]
        row_out: dict[str, Any] = {
            "label": row["label"], "ground_truth": row["ground_truth"], "ranked": row["ranked"], "info": row["info"],
            "n_utterances": len(utt_ids), "n_failed": len(failures), "n_missing": len(missing),
            "failures": [{"utt_id": u, "reason": _short_reason(e or "")} for u, e in failures.items()],
            "metrics": {},
        }
        for name, meta in metrics.items():
            if not applicable(meta, row):
                continue
            values: dict[str, float] = {}
            excluded: dict[str, str] = {}
            for u, r in recs.items():
                if r is None:
                    excluded[u] = NOT_COMPUTED
                elif r.get("status") == "failed":
                    excluded[u] = f"failed: {r.get('error')}"
                elif name in r.get("metrics", {}):
                    if mode == "common" and u not in common[name]:
                        excluded[u] = NOT_COMMON
                        continue
                    values[u] = float(r["metrics"][name])
                else:
                    excluded[u] = r.get("metric_errors", {}).get(name, "metric not computed")
            vals = list(values.values())
            entry: dict[str, Any] = {
                "n": len(vals),
                "excluded": len(excluded),
                "exclusion_reasons": dict(Counter(_reason_class(e) for e in excluded.values()).most_common()),
                "excluded_utterances": {u: _short_reason(e) for u, e in excluded.items()},
                "mean": statistics.fmean(vals) if vals else None,
                "std": statistics.stdev(vals) if len(vals) > 1 else None,
                "median": statistics.median(vals) if vals else None,
                "min": min(vals) if vals else None,
                "max": max(vals) if vals else None,
            }
            if meta.get("corpus") and name in corpus_scorers and vals:
                refs = [recs[u]["reference_text"] for u in values]
                hyps = [recs[u]["transcript"] or "" for u in values]
                try:
                    entry["corpus"] = float(corpus_scorers[name](refs, hyps))
                except Exception as exc:  # reported, not fatal
                    entry["corpus"] = None
                    entry["corpus_error"] = f"{type(exc).__name__}: {exc}"
            use_corpus = meta.get("corpus") and entry.get("corpus") is not None
            entry["value"] = entry.get("corpus") if use_corpus else entry["mean"]
            row_out["metrics"][name] = entry
            scores[name][row["label"]] = values
        out_rows[row["label"]] = row_out
    return {"rows": out_rows, "scores": scores,
            "aggregation": aggregation_summary(mode, metrics, out_rows, len(utt_ids))}


def _scored(rec: dict | None, name: str) -> bool:
    return rec is not None and rec.get("status") != "failed" and name in rec.get("metrics", {})


def _common_sets(metrics: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
                 records: Mapping[tuple[str, str], dict], utt_ids: Sequence[str]) -> dict[str, set[str]]:
    """Per metric, the utterances every row the metric applies to has a value for (rows that scored
    no utterance for it are left out: see the module docstring)."""
    out = {}
    for name, meta in metrics.items():
        keep = set(utt_ids)
        for row in rows:
            if applicable(meta, row):
                scored = {u for u in utt_ids if _scored(records.get((row["key"], u)), name)}
                if scored:
                    keep &= scored
        out[name] = keep
    return out


def aggregation_summary(mode: str, metrics: Mapping[str, Any], rows: Mapping[str, Any], n_utts: int) -> dict[str, Any]:
    """What every table says about its utterance sets (``statement``), with the counts behind it."""
    n_failed = sum(r["n_failed"] for r in rows.values())
    n_by_metric: dict[str, int | None] = {}
    for name in metrics:
        ns = {r["metrics"][name]["n"] for r in rows.values() if name in r["metrics"]}
        if mode == "common":
            ns.discard(0)  # a row that scored nothing does not narrow the common set
        n_by_metric[name] = ns.pop() if len(ns) == 1 else (0 if not ns else None)
    fail_txt = f"{n_failed} failure(s) listed under Exclusions"
    unscored = [label for label, r in rows.items() if r["metrics"] and all(e["n"] == 0 for e in r["metrics"].values())]
    if mode == "common" and unscored:
        fail_txt += f"; scored no utterance, so not part of the comparison: {', '.join(unscored)}"
    if mode == "common":
        distinct = {v for v in n_by_metric.values() if v is not None}
        if len(distinct) == 1:
            head = f"aggregated over the {distinct.pop()} of {n_utts} utterances all systems scored"
        else:
            per = ", ".join(f"{metrics[n].get('display', n)} {v}" for n, v in n_by_metric.items() if v is not None)
            head = f"aggregated per metric over the utterances all systems scored ({per}; of {n_utts})"
    else:
        head = f"aggregated per row over the utterances that row scored (rows may differ; of {n_utts})"
    return {"mode": mode, "n_utterances": n_utts, "n_by_metric": n_by_metric, "n_failed": n_failed,
            "statement": f"{head}; {fail_txt}"}


def _reason_class(reason: str) -> str:
    """Group reasons for counting: drop numbers and file paths that differ per utterance."""
    import re

    r = re.sub(r"/[^\s:,)]+", "<path>", reason)
    r = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", r)
    return _short_reason(r)


def ranking(values: Mapping[str, float | None], higher_is_better: bool) -> dict[str, int]:
    """Rank (1 = best, 2 = second) of each label with a value; ties share a rank."""
    present = sorted({v for v in values.values() if v is not None}, reverse=higher_is_better)
    order = {v: i + 1 for i, v in enumerate(present)}
    return {k: order[v] for k, v in values.items() if v is not None}

"""Rendering a comparison: console table, Markdown, CSV, JSON, plots and a self-contained HTML.

Everything is rebuilt from ``run.json``, ``utterances.jsonl`` and ``records.jsonl`` alone, so
``compare --render-only`` re-renders a finished (or interrupted) run without recomputing. Every
file is written atomically (temp file + rename).

Outputs in the run folder:

- ``results.md``: Table 1 (paper style: corpus WER/WIL, mean of the other metrics; best in
  bold, second underlined among ranked systems; one per depth with an ``--n-q`` list), Table 2
  (per-utterance mean +- std), the ASO significance matrices (with the chosen multiple-comparison
  correction), the consistency checks (``--consistency``), exclusions and disabled metrics. Every
  table states its utterance set (comparable rows, :mod:`.aggregate`);
- ``results.csv`` (one row per system, every statistic), ``per_utterance.csv``;
- ``results.json``: run summary, aggregates, significance;
- ``plots/*.png`` and ``report.html`` (tables, plots as base64 PNG, audio players for a few
  original/reconstructed pairs as base64 WAV data URIs, each with its spectrogram, also written to
  ``spectrograms/*.png``: :mod:`.spectrograms`).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any, Mapping

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.io import write_json_atomic, write_text_atomic

from tokenizer_bench.benchmarks.harness.aggregate import NOT_COMMON, aggregate, applicable, ranking, system_rows
from tokenizer_bench.benchmarks.harness.cells import DASH, fmt, header
from tokenizer_bench.benchmarks.harness.consistency import load_consistency
from tokenizer_bench.benchmarks.harness.dataset import read_utterance_list
from tokenizer_bench.benchmarks.harness.records import RECORDS_NAME, RecordStore
from tokenizer_bench.benchmarks.harness.significance import pairwise_aso
from tokenizer_bench.benchmarks.harness.spectrograms import ExampleSpectrograms



# ----------------------------------------------------------------------------- loading
def load_run(out: Path) -> tuple[dict, list, dict]:
    run_path = out / "run.json"
    if not run_path.is_file():
        raise ConfigError(f"{run_path}: not found; --render-only needs a folder written by `compare`")
    try:
        run = json.loads(run_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{run_path}: not valid JSON ({exc})") from exc
    _add_decimals(run, run_path)
    utts = read_utterance_list(out / "utterances.jsonl")
    records = RecordStore(out / RECORDS_NAME).load()
    return run, utts, records


def _add_decimals(run: dict, run_path: Path) -> None:
    """A ``run.json`` written before metrics declared ``MetricMeta.decimals`` has no ``decimals``: take
    them from the metric's declaration now; a metric that is no longer registered is an error naming it."""
    from tokenizer_bench.core.plugins import get_registry

    stale = [name for name, meta in run["metrics"].items() if "decimals" not in meta]
    if not stale:
        return
    reg = get_registry("metrics")
    unknown = [name for name in stale if name not in reg]
    if unknown:
        raise ConfigError(f"{run_path}: written before metrics declared their decimals, and metric(s) "
                          f"{', '.join(unknown)} are not registered here: install the package that provides them "
                          "to render this run")
    for name in stale:
        run["metrics"][name]["decimals"] = reg.build(name).meta.decimals


def corpus_scorers(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``corpus_score`` of metrics that have one, rebuilt from the registry (render-only too)."""
    from tokenizer_bench.core.plugins import get_registry

    reg = get_registry("metrics")
    out = {}
    for name, meta in metrics.items():
        if meta.get("corpus") and name in reg:
            try:
                out[name] = reg.build(name).corpus_score
            except Exception:  # the per-utterance figures still render; corpus shows as missing
                continue
    return out


def depth_groups(run: Mapping[str, Any]) -> list[tuple[int | None, list[str]]]:
    """``[(depth, labels)]``: one group per ``--n-q`` depth (a single group without a depth list)."""
    depths = run.get("depths") or [None]
    if len(depths) == 1:
        return [(depths[0], [s["label"] for s in run["systems"]])]
    groups = [(d, [s["label"] for s in run["systems"] if s.get("depth") == d]) for d in depths]
    return [g for g in groups if g[1]]  # a depth no tokenizer has is only listed under skipped depths


def significance(run: Mapping[str, Any], agg: Mapping[str, Any], correction: str | None = None) -> dict[str, Any]:
    """ASO matrices per metric (and per depth with an ``--n-q`` list), corrected within each matrix.

    Keys are the metric name, or ``metric@n_q=D`` per depth; each value is ``{"metric", "depth",
    "correction", "matrix"}`` (``matrix[A][B]`` = A better than B, see :mod:`.significance`).
    """
    sig = run.get("significance", {})
    correction = correction or sig.get("correction", "none")
    out = {}
    groups = depth_groups(run)
    for depth, labels in groups:
        for name, meta in run["metrics"].items():
            if meta["kind"] == "system":
                continue
            scores = {k: v for k, v in agg["scores"].get(name, {}).items() if k in labels}
            if len(scores) < 2:
                continue
            mat = pairwise_aso(scores, meta["higher_is_better"], confidence=sig.get("confidence", 0.95),
                               iterations=sig.get("iterations", 1000), seed=sig.get("seed", 42), correction=correction)
            key = name if len(groups) == 1 else f"{name}@n_q={depth}"
            out[key] = {"metric": name, "depth": depth, "correction": correction, "matrix": mat}
    return out


def correction_text(run: Mapping[str, Any], correction: str) -> str:
    conf = run.get("significance", {}).get("confidence", 0.95)
    alpha = round(1 - conf, 6)
    return {"none": f"no multiple-comparison correction (as the paper): each pair at α = {alpha}",
            "bonferroni": f"Bonferroni-corrected over the pairs of each metric (α = {alpha} / pairs)",
            "holm": f"Holm step-down over the pairs of each metric (α = {alpha})"}[correction]


# ----------------------------------------------------------------------------- formatting
def table1_cells(run: Mapping[str, Any], agg: Mapping[str, Any],
                 labels: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of Table 1 with per-cell text, rank (1 best, 2 second, None) and exclusion count.

    ``labels``: only these system rows (plus the ground truth), ranked among themselves (one depth)."""
    metrics = run["metrics"]
    rows = [r for r in system_rows(run) if labels is None or r["ground_truth"] or r["label"] in labels]
    ranks: dict[str, dict[str, int]] = {}
    for name, meta in metrics.items():
        if not meta["ranked"]:
            continue
        vals = {r["label"]: agg["rows"][r["label"]]["metrics"].get(name, {}).get("value")
                for r in rows if r["ranked"] and not r["ground_truth"]}
        ranks[name] = ranking(vals, meta["higher_is_better"])
    out = []
    for r in rows:
        a = agg["rows"][r["label"]]
        cells = {}
        for name, meta in metrics.items():
            entry = a["metrics"].get(name)
            if entry is None or not applicable(meta, r):
                cells[name] = {"text": DASH, "rank": None, "value": None, "excluded": 0}
                continue
            rank = ranks.get(name, {}).get(r["label"]) if r["ranked"] else None
            cells[name] = {"text": fmt(meta, entry["value"]), "rank": rank if rank in (1, 2) else None,
                           "value": entry["value"], "excluded": a["n_utterances"] - entry["n"], "n": entry["n"]}
        out.append({"label": r["label"], "ground_truth": r["ground_truth"], "ranked": r["ranked"],
                    "n_failed": a["n_failed"], "n_missing": a["n_missing"], "cells": cells})
    return out


def _decorate(cell: Mapping[str, Any], style: str) -> str:
    text = cell["text"]
    if cell.get("excluded"):
        text = f"{text} (n={cell['n']})"
    if cell["rank"] == 1:
        return {"md": f"**{text}**", "rich": f"[bold]{text}[/bold]", "html": f"<b>{html.escape(text)}</b>"}[style]
    if cell["rank"] == 2:
        return {"md": f"<u>{text}</u>", "rich": f"[underline]{text}[/underline]",
                "html": f"<u>{html.escape(text)}</u>"}[style]
    return html.escape(text) if style == "html" else text


def mean_std(meta: Mapping[str, Any], entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("mean") is None:
        return DASH
    m = fmt(meta, entry["mean"])
    s = fmt(meta, entry["std"]) if entry.get("std") is not None else DASH
    return f"{m} ± {s}"


def eps_text(cell: Mapping[str, Any] | None) -> str:
    if cell is None or cell.get("eps_min") is None:
        return DASH
    e = cell["eps_min"]
    return f"{e:.2f}"


# ----------------------------------------------------------------------------- markdown
def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _table1_sections(run: Mapping[str, Any]) -> list[tuple[str, str, list[str] | None]]:
    """(title, html id, labels) of each Table 1: one, or one per ``--n-q`` depth."""
    groups = depth_groups(run)
    if len(groups) == 1:
        return [("Table 1 — corpus-level WER/WIL, mean of the other metrics", "table1", None)]
    return [(f"Table 1 at n_q = {d} — corpus-level WER/WIL, mean of the other metrics", f"table1-nq{d}", labels)
            for d, labels in groups]


def _skipped_lines(run: Mapping[str, Any]) -> list[str]:
    return [f"- n_q = {s['n_q']}: {s['label']} skipped ({s['reason']})" for s in run.get("skipped_depths") or []]


def render_markdown(run: Mapping[str, Any], agg: Mapping[str, Any], sig: Mapping[str, Any],
                    consistency: list[dict] | None = None) -> str:
    metrics = run["metrics"]
    parts = [f"# Tokenizer comparison ({run['num_utterances']} utterances)", ""]
    parts.append(_summary_lines(run, md=True, agg=agg, sig=sig))
    head = ["System"] + [header(m) for m in metrics.values()]
    for title, _, labels in _table1_sections(run):
        t1 = table1_cells(run, agg, labels)
        parts += ["", f"## {title}", "", f"_{agg['aggregation']['statement']}._", ""]
        parts.append(_md_table(head, [[_md_escape(r["label"])] + [_decorate(r["cells"][n], "md") for n in metrics]
                                      for r in t1]))
    if run.get("skipped_depths"):
        parts += ["", "Depths a tokenizer does not have:", ""] + _skipped_lines(run)
    parts += ["", "Best in **bold**, second <u>underlined</u> (ranked systems only; ground truth and sanity rows "
              "such as `identity` are not ranked). `(n=K)`: only K utterances scored, see Exclusions.", ""]
    parts += ["## Table 2 — per-utterance mean ± std", "", f"_{agg['aggregation']['statement']}._", ""]
    rows = []
    for r in system_rows(run):
        a = agg["rows"][r["label"]]
        rows.append([_md_escape(r["label"])] + [mean_std(m, a["metrics"].get(n)) for n, m in metrics.items()])
    parts.append(_md_table(head, rows))
    parts += ["", "## Significance — almost stochastic order (ε_min of row better than column)", "",
              _significance_note(run, sig), ""]
    for key, entry in sig.items():
        mat = entry["matrix"]
        labels = list(mat)
        depth = f" at n_q = {entry['depth']}" if "@" in key else ""
        parts += [f"### {header(metrics[entry['metric']])}{depth} (correction: {entry['correction']})", ""]
        body = []
        for a in labels:
            line = [_md_escape(a)]
            for b in labels:
                if a == b:
                    line.append(DASH)
                    continue
                t = eps_text(mat[a].get(b))
                c = mat[a].get(b) or {}
                line.append(f"**{t}**" if c.get("significant") else t)
            body.append(line)
        parts += [_md_table(["ε_min (row vs column)"] + [_md_escape(x) for x in labels], body), ""]
    if consistency:
        parts += ["## Consistency checks", "", CONSISTENCY_NOTE, ""]
        parts.append(_md_table([_md_escape(h) for h in CONSISTENCY_HEAD],
                               [[_md_escape(x) for x in row] for row in consistency_rows(consistency)]))
        parts.append("")
    parts += ["## Exclusions", ""]
    parts += _exclusion_lines(run, agg)
    if run.get("disabled_metrics"):
        parts += ["", "## Disabled metrics", ""]
        parts += [f"- `{n}`: {r}" for n, r in run["disabled_metrics"].items()]
    return "\n".join(parts) + "\n"


def _significance_note(run: Mapping[str, Any], sig: Mapping[str, Any]) -> str:
    s = run.get("significance", {})
    correction = next(iter(sig.values()))["correction"] if sig else s.get("correction", "none")
    return ("ε_min ≤ 0.5: the row system is significantly better than the column system; ε_min = 0: it dominates. "
            f"Confidence {s.get('confidence', 0.95)}, {correction_text(run, correction)}; bold = significant after "
            f"this correction. {s.get('iterations', 1000)} bootstrap iterations, seed {s.get('seed', 42)}; utterances "
            "scored by both systems.")


def _summary_lines(run: Mapping[str, Any], md: bool, agg: Mapping[str, Any] | None = None,
                   sig: Mapping[str, Any] | None = None) -> str:
    cfg = run.get("config", {})
    asr = run.get("asr")
    asr_txt = (f"{asr.get('backend')} ({asr.get('model')}, {asr.get('decoding')})" if asr
               else "none (no transcript metric)")
    items = [
        f"Data: {', '.join(map(str, cfg.get('data', [])))}; {run['num_utterances']} utterances "
        f"(num_samples={cfg.get('num_samples')}, seed={cfg.get('seed')}; list in utterances.jsonl)",
        f"ASR for WER/WIL: {asr_txt}; text normalised with Whisper's EnglishTextNormalizer",
        f"n_q: {_depth_text(run)}; device: {cfg.get('device')}",
    ]
    preset = run.get("preset")
    if preset:
        line = f"Preset: {preset['name']} — {preset.get('source', '')}"
        if preset.get("stand_ins"):
            line += ("; OFFLINE STAND-INS used (--allow-stand-ins): "
                     + ", ".join(f"{k} → {v}" for k, v in preset["stand_ins"].items()))
        items.insert(0, line)
    if agg is not None:
        items.append(f"Aggregation: {agg['aggregation']['statement']} (--aggregate {agg['aggregation']['mode']})")
    if sig is not None:
        corr = next(iter(sig.values()))["correction"] if sig else run.get("significance", {}).get("correction", "none")
        items.append(f"Significance: almost stochastic order, {correction_text(run, corr)}")
    if run.get("merged_from"):
        items.append(f"Merged from {len(run['merged_from'])} shards: {', '.join(run['merged_from'])}")
    elif run.get("shard"):
        sh = run["shard"]
        items.append(f"Shard {sh['index']}/{sh['count']}: {run['num_utterances']} of {sh['total']} utterances "
                     "(merge the shards with compare --merge)")
    return "\n".join(f"- {i}" for i in items) if md else "; ".join(items)


def _depth_text(run: Mapping[str, Any]) -> str:
    depths = run.get("depths")
    if depths and len(depths) > 1:
        return "depths " + ", ".join(map(str, depths)) + " (one row per tokenizer and depth)"
    n_q = run.get("config", {}).get("n_q")
    return str(n_q) if n_q else "all codebooks"


CONSISTENCY_HEAD = ["System", "batched vs single: codes differ", "batched: max |Δwave|",
                    "chunked vs whole: codes differ",
                    "chunked: max |Δwave|", "setting"]
CONSISTENCY_NOTE = ("Per row, on the first utterances of the sample: batched vs one-at-a-time encoding (cropped to a "
                    "common length, no padding) and chunked vs whole encoding of their concatenation (chunks decoded "
                    "separately). 'codes differ' is the fraction of differing codes (0 = identical); max |Δwave| the "
                    "largest absolute difference of the decoded waveforms.")


def _frac(entry: Mapping[str, Any]) -> str:
    if entry.get("error"):
        return f"error: {entry['error']}"
    f = entry.get("codes_differ_fraction")
    if f is None:
        return entry.get("note", DASH)
    text = "identical" if f == 0 else f"{100 * f:.2f} %"
    if entry.get("frames") and entry["frames"][0] != entry["frames"][1]:
        text += f" (frames {entry['frames'][0]} vs {entry['frames'][1]})"
    return text


def _wave(entry: Mapping[str, Any]) -> str:
    v = entry.get("max_abs_wave_diff")
    return DASH if v is None else f"{v:.2e}"


def consistency_rows(consistency: list[dict]) -> list[list[str]]:
    rows = []
    for c in consistency:
        b, ch = c.get("batched", {}), c.get("chunked", {})
        setting = (f"batch {b.get('batch', DASH)}; chunk {ch.get('chunk_samples', DASH)} samples"
                   f" x {ch.get('chunks', DASH)}")
        rows.append([c["system"], _frac(b), _wave(b), _frac(ch), _wave(ch), setting])
    return rows


def _exclusion_lines(run: Mapping[str, Any], agg: Mapping[str, Any]) -> list[str]:
    lines = []
    for label, a in agg["rows"].items():
        if a["n_failed"]:
            reasons = {}
            for f in a["failures"]:
                reasons[f["reason"]] = reasons.get(f["reason"], 0) + 1
            for reason, count in reasons.items():
                lines.append(f"- {label}: {count} utterance(s) failed — {reason}")
        if a["n_missing"]:
            lines.append(f"- {label}: {a['n_missing']} utterance(s) not computed yet (interrupted run; rerun to "
                         "resume)")
        for name, e in a["metrics"].items():
            other = {k: v for k, v in e["exclusion_reasons"].items()
                     if not k.startswith("failed:") and "not computed" not in k and k != NOT_COMMON}
            for reason, count in other.items():
                lines.append(f"- {label} / {run['metrics'][name]['display']}: {count} excluded — {reason}")
    return lines or ["- none"]


# ----------------------------------------------------------------------------- console
def print_console(run: Mapping[str, Any], agg: Mapping[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    metrics = run["metrics"]
    for title, _, labels in _table1_sections(run):
        table = Table(title=f"{title.split(' — ')[0]} ({run['num_utterances']} utterances; corpus WER/WIL, mean of "
                            "others)",
                      caption=f"{agg['aggregation']['statement']}; bold = best, underline = second (ranked systems)")
        table.add_column("System", style="cyan")
        for m in metrics.values():
            table.add_column(header(m), justify="right")
        for r in table1_cells(run, agg, labels):
            table.add_row(r["label"], *[_decorate(r["cells"][n], "rich") for n in metrics])
        console.print(table)
    for line in _skipped_lines(run):
        console.print(f"  {line}", markup=False)
    excl = _exclusion_lines(run, agg)
    if excl != ["- none"]:
        console.print("[yellow]Exclusions:[/yellow]")
        for line in excl:
            console.print(f"  {line}", markup=False)
    for n, reason in run.get("disabled_metrics", {}).items():
        console.print(f"[yellow]metric {n} disabled:[/yellow] {reason}")


# ----------------------------------------------------------------------------- CSV / JSON
def _csv_text(header_row: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header_row)
    w.writerows(rows)
    return buf.getvalue()


def render_csv(run: Mapping[str, Any], agg: Mapping[str, Any]) -> str:
    metrics = run["metrics"]
    head = ["system", "aggregation", "n_utterances", "n_failed", "n_missing"]
    for n in metrics:
        head += [f"{n}", f"{n}_mean", f"{n}_std", f"{n}_corpus", f"{n}_n", f"{n}_excluded"]
    rows = []
    for label, a in agg["rows"].items():
        row: list[Any] = [label, agg["aggregation"]["mode"], a["n_utterances"], a["n_failed"], a["n_missing"]]
        for n in metrics:
            e = a["metrics"].get(n)
            if e is None:
                row += ["", "", "", "", "", ""]
            else:
                row += [_num(e.get("value")), _num(e.get("mean")), _num(e.get("std")), _num(e.get("corpus")),
                        e["n"], e["excluded"]]
        rows.append(row)
    return _csv_text(head, rows)


def _num(v: Any) -> str:
    return "" if v is None else repr(float(v))


def render_per_utterance_csv(run: Mapping[str, Any], utt_ids: list[str], records: Mapping) -> str:
    metrics = list(run["metrics"])
    head = ["system", "utt_id", "status", "error"] + metrics + [f"{m}_error" for m in metrics] + ["transcript"]
    rows = []
    for r in system_rows(run):
        for u in utt_ids:
            rec = records.get((r["key"], u))
            if rec is None:
                continue
            vals = [_num(rec.get("metrics", {}).get(m)) for m in metrics]
            errs = [rec.get("metric_errors", {}).get(m, "") for m in metrics]
            rows.append([r["label"], u, rec.get("status"), rec.get("error") or ""] + vals + errs
                        + [rec.get("transcript") or ""])
    return _csv_text(head, rows)


# ----------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}caption{text-align:left;color:#555;padding:4px 0}
td.gt{color:#555;font-style:italic}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.audio td{text-align:left;vertical-align:top}audio{width:220px}.note{color:#555}
img.spectrogram{width:420px;border:none;margin:.3em 0 0}
"""


def _html_table(table_id: str, head: list[str], rows: list[tuple[dict, list[tuple[str, str, str]]]],
                caption: str) -> str:
    """rows: (row attrs, [(cell html, metric name, raw value text)])."""
    out = [f'<table id="{table_id}"><caption>{html.escape(caption)}</caption><thead><tr>']
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for attrs, cells in rows:
        label = attrs["label"]
        cls = ' class="gt"' if attrs.get("ground_truth") else ""
        out.append(f'<tr data-system="{html.escape(label)}"><td{cls}>{html.escape(label)}</td>')
        for cell_html, metric, raw in cells:
            out.append(f'<td data-metric="{html.escape(metric)}" data-value="{html.escape(raw)}">{cell_html}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _wav_data_uri(data: bytes) -> str:
    return "data:audio/wav;base64," + base64.b64encode(data).decode("ascii")


def _original_wav_bytes(path: str) -> bytes | None:
    import soundfile as sf

    from tokenizer_bench.core.audio import load_audio

    try:
        wav, sr = load_audio(path)
    except Exception:
        return None
    buf = io.BytesIO()
    sf.write(buf, wav[0].numpy(), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def render_html(run: Mapping[str, Any], agg: Mapping[str, Any], sig: Mapping[str, Any], utts: list,
                records: Mapping, out: Path, plots: list[Path], consistency: list[dict] | None = None) -> str:
    metrics = run["metrics"]
    head = ["System"] + [header(m) for m in metrics.values()]
    statement = agg["aggregation"]["statement"]
    tables1 = []
    for title, table_id, labels in _table1_sections(run):
        t1 = table1_cells(run, agg, labels)
        rows1 = [(r, [(_decorate(r["cells"][n], "html"), n,
                       "" if r["cells"][n]["value"] is None else repr(r["cells"][n]["value"])) for n in metrics])
                 for r in t1]
        tables1.append(f"<h2>{html.escape(title)}</h2>" + _html_table(
            table_id, head, rows1, f"{statement[0].upper() + statement[1:]}. Corpus-level WER/WIL, mean of the other "
            "metrics. Bold = best, underlined = second among ranked systems; (n=K): K utterances scored."))
    if run.get("skipped_depths"):
        tables1.append("<p class='note'>Depths a tokenizer does not have: "
                       + "; ".join(html.escape(x[2:]) for x in _skipped_lines(run)) + "</p>")
    rq = [q for q in plots if q.stem == "rate_quality"]
    if rq:  # the depth sweep's headline figure sits with its tables
        data = base64.b64encode(rq[0].read_bytes()).decode("ascii")
        tables1.append(f"<h2>Rate–quality</h2><div><img alt='rate_quality' src='data:image/png;base64,{data}'></div>")
        plots = [q for q in plots if q.stem != "rate_quality"]
    rows2 = []
    for r in system_rows(run):
        a = agg["rows"][r["label"]]
        cells = []
        for n, m in metrics.items():
            e = a["metrics"].get(n)
            cells.append((html.escape(mean_std(m, e)), n, "" if not e or e.get("mean") is None else repr(e["mean"])))
        rows2.append((r, cells))
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>tokenizer-bench comparison</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Tokenizer comparison ({run['num_utterances']} utterances)</h1>",
             "<ul id='summary'>" + "".join(f"<li>{html.escape(x[2:])}</li>"
                                           for x in _summary_lines(run, md=True, agg=agg, sig=sig).splitlines())
             + "</ul>",
             *tables1,
             "<h2>Table 2</h2>",
             _html_table("table2", head, rows2, f"Per-utterance mean ± std (ddof=1); {statement}."),
             "<h2>Significance (almost stochastic order)</h2>",
             f"<p class='note'>{html.escape(_significance_note(run, sig))}</p>"]
    for key, entry in sig.items():
        mat = entry["matrix"]
        labels = list(mat)
        depth = f" at n_q = {entry['depth']}" if "@" in key else ""
        parts.append(f"<h3>{html.escape(header(metrics[entry['metric']]) + depth)} (correction: "
                     f"{html.escape(entry['correction'])})</h3>"
                     f"<table id='aso-{html.escape(key)}'><thead><tr><th></th>")
        parts += [f"<th>{html.escape(b)}</th>" for b in labels]
        parts.append("</tr></thead><tbody>")
        for a in labels:
            parts.append(f"<tr><td>{html.escape(a)}</td>")
            for b in labels:
                c = mat[a].get(b) if a != b else None
                t = DASH if a == b else eps_text(c)
                bold = c is not None and bool(c.get("significant"))
                parts.append(f"<td>{'<b>' + t + '</b>' if bold else t}</td>")
            parts.append("</tr>")
        parts.append("</tbody></table>")
    if consistency:
        parts.append(f"<h2>Consistency checks</h2><p class='note'>{html.escape(CONSISTENCY_NOTE)}</p>")
        parts.append("<table id='consistency'><thead><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in CONSISTENCY_HEAD) + "</tr></thead><tbody>")
        for row in consistency_rows(consistency):
            parts.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("<h2>Exclusions</h2><ul>")
    parts += [f"<li>{html.escape(x[2:])}</li>" for x in _exclusion_lines(run, agg)]
    parts.append("</ul>")
    if run.get("disabled_metrics"):
        parts.append("<h2>Disabled metrics</h2><ul>")
        parts += [f"<li><code>{html.escape(n)}</code>: {html.escape(r)}</li>"
                  for n, r in run["disabled_metrics"].items()]
        parts.append("</ul>")
    if plots:
        parts.append("<h2>Plots</h2>")
        for p in plots:
            data = base64.b64encode(p.read_bytes()).decode("ascii")
            parts.append(f"<div><img alt='{html.escape(p.stem)}' src='data:image/png;base64,{data}'></div>")
    parts.append(_audio_section(run, utts, records, out))
    parts.append("</body></html>")
    return "\n".join(parts)


def _audio_section(run: Mapping[str, Any], utts: list, records: Mapping, out: Path) -> str:
    examples = [u for u in utts if u.id in set(run.get("examples", []))]
    systems = [r for r in system_rows(run) if not r["ground_truth"]]
    if not examples or not systems:
        return ""
    spectrograms = ExampleSpectrograms(out)  # one image per player, on the original's dB scale
    parts = ["<h2>Listen</h2><p class='note'>Spectrograms: log-magnitude STFT (32 ms Hann window, 8 ms hop, linear "
             "frequency), each utterance's images on one scale: the original's peak down to 80 dB below it.</p>"
             "<table class='audio' id='audio'><thead><tr><th>Utterance</th><th>Original</th>"]
    parts += [f"<th>{html.escape(s['label'])}</th>" for s in systems]
    parts.append("</tr></thead><tbody>")
    for u in examples:
        orig = _original_wav_bytes(u.path)
        text = f"<br><small>{html.escape(u.text)}</small>" if u.text else ""
        parts.append(f"<tr><td>{html.escape(u.id)}{text}</td>")
        parts.append(f"<td><audio controls src='{_wav_data_uri(orig)}'></audio>{spectrograms.original(u.id, orig)}</td>"
                     if orig else "<td>unreadable</td>")
        for s in systems:
            rec = records.get((s["key"], u.id))
            path = out / rec["audio"] if rec and rec.get("audio") else None
            if path is not None and path.is_file():
                data = path.read_bytes()
                parts.append(f"<td><audio controls src='{_wav_data_uri(data)}'></audio>"
                             f"{spectrograms.reconstruction(u.id, s['label'], data)}</td>")
            else:
                reason = rec.get("error") if rec and rec.get("status") == "failed" else "not available"
                parts.append(f"<td>{html.escape(str(reason))}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


# ----------------------------------------------------------------------------- entry point
def render_outputs(out: str | Path, console: Any = None, plots: bool = True, aggregation: str | None = None,
                   correction: str | None = None) -> dict[str, str]:
    """Rebuild every output of the run folder ``out`` from its records; returns written paths.

    ``aggregation`` / ``correction`` override the run's settings (``--render-only --aggregate ...``)."""
    out = Path(out)
    run, utts, records = load_run(out)
    utt_ids = [u.id for u in utts]
    mode = aggregation or run.get("aggregation") or "common"
    agg = aggregate(run, records, utt_ids, corpus_scorers(run["metrics"]), mode=mode)
    sig = significance(run, agg, correction)
    consistency = load_consistency(out)
    from tokenizer_bench.benchmarks.harness.token_report import extras_html, extras_json, extras_markdown, load_extras

    extras = load_extras(out)  # --token-stats / --probe results, when the run made them
    written: dict[str, str] = {}
    from tokenizer_bench.benchmarks.harness.published import published_html, published_markdown

    write_text_atomic(out / "results.md", render_markdown(run, agg, sig, consistency) + published_markdown(run, agg)
                      + extras_markdown(extras))
    written["markdown"] = str(out / "results.md")
    write_text_atomic(out / "results.csv", render_csv(run, agg))
    written["csv"] = str(out / "results.csv")
    write_text_atomic(out / "per_utterance.csv", render_per_utterance_csv(run, utt_ids, records))
    written["per_utterance_csv"] = str(out / "per_utterance.csv")
    summary = {k: run.get(k) for k in ("created", "config", "systems", "ground_truth", "asr", "metrics",
                                        "disabled_metrics", "num_utterances", "examples", "significance", "depths",
                                        "skipped_depths", "shard", "merged_from", "preset")}
    write_json_atomic(out / "results.json", {"run": summary, "utterances": utt_ids, "aggregation": agg["aggregation"],
                                             "rows": agg["rows"], "significance": sig, "consistency": consistency,
                                             **extras_json(extras)})
    written["json"] = str(out / "results.json")
    plot_paths: list[Path] = []
    if plots:
        from tokenizer_bench.benchmarks.harness.plots import make_plots

        plot_paths = make_plots(out / "plots", agg, run["metrics"], run=run)
        written["plots"] = str(out / "plots")
    page = render_html(run, agg, sig, utts, records, out, plot_paths, consistency)
    page = page.replace("<h2>Exclusions</h2>", published_html(run, agg) + extras_html(extras) + "<h2>Exclusions</h2>",
                        1)
    write_text_atomic(out / "report.html", page)
    written["html"] = str(out / "report.html")
    print_console(run, agg, console)
    return written

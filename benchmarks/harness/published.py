"""The "published" column: a preset's numbers from its source next to ours, row by row.

A preset (``presets.yaml``) may carry ``published: {source: ..., rows: {tokenizer: {metric: value}}}``:
the figures the source table reports for the baselines it ran, keyed by our tokenizer names and
metric names, in the units our tables display (e.g. WER in %). They are copied into ``run.json``
with the preset, and the report shows, for every row of the run whose tokenizer the source also
reports, ``ours (published)`` per metric the source has. Published rows the run does not have
are listed too, so the reader sees the whole source table. Nothing is recomputed or adjusted: the
two numbers differ in data draw, ASR and models (see the preset's stand-ins) and are shown as such.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from tokenizer_bench.benchmarks.harness.cells import fmt, header

DASH = "—"


def published_of(run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    preset = run.get("preset") or {}
    pub = preset.get("published")
    return pub if pub and pub.get("rows") else None


def published_table(run: Mapping[str, Any], agg: Mapping[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """``(header, rows)`` of the comparison, or None when the run's preset publishes nothing."""
    pub = published_of(run)
    if pub is None:
        return None
    metrics = run["metrics"]
    names = list(dict.fromkeys(m for row in pub["rows"].values() for m in row))
    head = ["System"] + [header(metrics[m]) if m in metrics else m for m in names]
    body = []
    seen = set()
    for s in run.get("systems", []):
        ref = pub["rows"].get(s.get("name"))
        if ref is None:
            continue
        seen.add(s.get("name"))
        ours = agg["rows"].get(s["label"], {}).get("metrics", {})
        cells = [s["label"]]
        for m in names:
            value = ours.get(m, {}).get("value") if m in metrics else None
            mine = fmt(metrics[m], value) if m in metrics else DASH
            cells.append(f"{mine} ({_num(ref.get(m))})")
        body.append(cells)
    for name, ref in pub["rows"].items():
        if name not in seen:
            body.append([f"{name} (not in this run)"] + [f"{DASH} ({_num(ref.get(m))})" for m in names])
    return head, body


def _num(value: Any) -> str:
    return DASH if value is None else f"{value:g}"


def _note(run: Mapping[str, Any]) -> str:
    pub = published_of(run) or {}
    return ("Ours, with the published figure in parentheses; published: " + " ".join(str(pub.get("source", "")).split())
            + ". Different data draw, ASR and evaluation models where the preset used stand-ins: compare with care.")


def published_markdown(run: Mapping[str, Any], agg: Mapping[str, Any]) -> str:
    table = published_table(run, agg)
    if table is None:
        return ""
    head, body = table
    lines = ["", "## Published numbers", "", _note(run), "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def published_html(run: Mapping[str, Any], agg: Mapping[str, Any]) -> str:
    table = published_table(run, agg)
    if table is None:
        return ""
    head, body = table
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return (f"<h2>Published numbers</h2><p class='note'>{html.escape(_note(run))}</p><table id='published'><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head) + f"</tr></thead><tbody>{rows}</tbody></table>")


__all__ = ["published_html", "published_markdown", "published_of", "published_table"]

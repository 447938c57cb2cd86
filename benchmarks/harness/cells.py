"""Table-cell text shared by the report and the published-numbers table: value formatting and
column headers from a metric's declared metadata (``run.json``'s ``metrics``, written from each
metric's :class:`~tokenizer_bench.core.interfaces.MetricMeta`), in one place so both tables print a
metric alike, built-in or third-party."""

from __future__ import annotations

from typing import Any, Mapping

DASH = "–"


def fmt(meta: Mapping[str, Any], value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value * meta['display_scale']:.{meta['decimals']}f}"


def header(meta: Mapping[str, Any]) -> str:
    arrow = "↑" if meta["higher_is_better"] else "↓"
    if not meta["ranked"]:
        arrow = ""
    unit = f" ({meta['unit']})" if meta["unit"] else ""
    return f"{meta['display']}{unit}{(' ' + arrow) if arrow else ''}"

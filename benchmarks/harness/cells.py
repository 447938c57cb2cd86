"""Table-cell text shared by the report and the published-numbers table: value formatting and
column headers from a metric's metadata (one place, so both tables print a metric alike)."""

from __future__ import annotations

from typing import Any, Mapping

DECIMALS = {"wer": 2, "wil": 2, "visqol": 2, "stoi": 3, "pesq": 2, "mel_distance": 3, "si_sdr": 2,
            "bitrate": 2, "rtf_encode": 3, "rtf_decode": 3}
DASH = "–"


def fmt(name: str, meta: Mapping[str, Any], value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value * meta.get('display_scale', 1.0):.{DECIMALS.get(name, 3)}f}"


def header(meta: Mapping[str, Any]) -> str:
    arrow = "↑" if meta["higher_is_better"] else "↓"
    if not meta.get("ranked", True):
        arrow = ""
    unit = f" ({meta['unit']})" if meta.get("unit") else ""
    return f"{meta['display']}{unit}{(' ' + arrow) if arrow else ''}"

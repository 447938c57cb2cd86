"""Figures of a comparison, as PNG files (matplotlib, imported lazily, Agg canvas).

- ``<metric>.png`` per metric: the per-utterance distribution of every system (box plot) and its
  quantile function (inverse CDF, the curves ASO compares: a curve lying above another over all
  quantile levels is stochastic dominance);
- ``bitrate_vs_quality.png``: each system's bitrate against its Table-1 value per quality metric;
- ``rate_quality.png`` (with an ``--n-q`` list): per quality metric, the Table-1 value against the
  bitrate of each depth, one line per tokenizer (the rate-quality curves codec papers show).

The figures are drawn on ``matplotlib.figure.Figure`` with an Agg canvas, never through pyplot,
so rendering never touches (or is affected by) a global backend in the calling process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tokenizer_bench.core.io import atomic_path


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)  # no bbox "tight": it renders twice
    return path


def _title(meta: Mapping[str, Any]) -> str:
    unit = f" [{meta['unit']}]" if meta["unit"] else ""
    arrow = "higher is better" if meta["higher_is_better"] else "lower is better"
    return f"{meta['display']}{unit} ({arrow})"


def metric_figure(name: str, meta: Mapping[str, Any], scores: Mapping[str, Mapping[str, float]], path: Path,
                  colors: Mapping[str, str] | None = None) -> Path | None:
    from matplotlib.figure import Figure

    series = {label: np.asarray(list(v.values()), dtype=float) * meta["display_scale"]
              for label, v in scores.items() if len(v) > 0}
    if not series:
        return None
    fig = Figure(figsize=(11, 4.2))
    ax_box, ax_q = fig.subplots(1, 2)
    labels = list(series)
    ax_box.boxplot([series[k] for k in labels], showmeans=True)
    ax_box.set_xticks(range(1, len(labels) + 1), labels, rotation=25, ha="right")
    ax_box.set_title("per-utterance distribution")
    ax_box.grid(alpha=0.3)
    for label in labels:
        x = np.sort(series[label])
        # Q(t) = x_(ceil(n t)): value x_i on ((i-1)/n, i/n]; "pre" steps draw exactly that
        t = np.arange(0, x.size + 1) / x.size
        ax_q.step(t, np.r_[x[0], x], where="pre", label=f"{label} (n={x.size})", color=(colors or {}).get(label))
    ax_q.set_xlabel("quantile level t")
    ax_q.set_ylabel("score")
    ax_q.set_title("quantile function (inverse CDF)")
    ax_q.grid(alpha=0.3)
    ax_q.legend(fontsize=8)
    fig.suptitle(_title(meta))
    fig.subplots_adjust(bottom=0.25, wspace=0.25)
    return _save(fig, path)


def bitrate_figure(aggregates: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]], path: Path,
                   colors: Mapping[str, str] | None = None) -> Path | None:
    from matplotlib.figure import Figure

    rows = [r for r in aggregates["rows"].values() if not r["ground_truth"] and r.get("info")]
    quality = [n for n, m in metrics.items() if m["kind"] in ("audio", "text") and m["ranked"]]
    if not rows or not quality:
        return None
    cols = min(3, len(quality))
    nrows = int(np.ceil(len(quality) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.6 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, cols)).reshape(-1)
    for ax, name in zip(axes, quality):
        meta = metrics[name]
        for r in rows:
            entry = r["metrics"].get(name)
            if not entry or entry.get("value") is None:
                continue
            kbps = r["info"]["bitrate"] / 1000.0
            y = entry["value"] * meta["display_scale"]
            ax.scatter([kbps], [y], color=(colors or {}).get(r["label"]))
            ax.annotate(r["label"], (kbps, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("bitrate [kbps]")
        ax.set_title(_title(meta), fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[len(quality):]:
        ax.set_visible(False)
    fig.suptitle("bitrate vs quality")
    fig.subplots_adjust(hspace=0.45, wspace=0.3)
    return _save(fig, path)


def rate_quality_figure(run: Mapping[str, Any], aggregates: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]],
                        path: Path) -> Path | None:
    """Quality against bitrate over the ``--n-q`` depths, one line (marker per depth) per tokenizer."""
    from matplotlib.figure import Figure

    depths = run.get("depths") or [None]
    if len(depths) < 2:
        return None
    lines: dict[str, list[tuple[float, int, str]]] = {}
    for s in run["systems"]:
        base = s["label"].rsplit(" @ n_q=", 1)[0]
        lines.setdefault(base, []).append((s["info"]["bitrate"] / 1000.0, s.get("depth"), s["label"]))
    quality = [n for n, m in metrics.items() if m["kind"] in ("audio", "text") and m["ranked"]]
    if not quality:
        return None
    cols = min(3, len(quality))
    nrows = int(np.ceil(len(quality) / cols))
    fig = Figure(figsize=(4.4 * cols, 3.7 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, cols)).reshape(-1)
    for ax, name in zip(axes, quality):
        meta = metrics[name]
        for i, (base, pts) in enumerate(lines.items()):
            xy = []
            for kbps, depth, label in sorted(pts):
                entry = aggregates["rows"].get(label, {}).get("metrics", {}).get(name)
                if entry and entry.get("value") is not None:
                    xy.append((kbps, entry["value"] * meta["display_scale"], depth))
            if not xy:
                continue
            ax.plot([p[0] for p in xy], [p[1] for p in xy], marker="o", color=f"C{i % 10}", label=base)
            for x, y, d in xy:
                ax.annotate(f"{d}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("bitrate [kbps] (labels: n_q)")
        ax.set_title(_title(meta), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(quality):]:
        ax.set_visible(False)
    fig.suptitle("rate-quality: each tokenizer at n_q = " + ", ".join(map(str, depths)))
    fig.subplots_adjust(hspace=0.5, wspace=0.3, bottom=0.16 if nrows == 1 else 0.1)
    return _save(fig, path)


def make_plots(out_dir: Path, aggregates: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]],
               run: Mapping[str, Any] | None = None) -> list[Path]:
    """Write every figure under ``out_dir`` (created); returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # one colour per system across every figure (matplotlib's default cycle, in table order)
    colors = {label: f"C{i % 10}" for i, label in enumerate(aggregates["rows"])}
    written = []
    for name, meta in metrics.items():
        if meta["kind"] == "system":
            continue  # constant (bitrate) or timing figures: the tables say it all
        p = metric_figure(name, meta, aggregates["scores"].get(name, {}), out_dir / f"{name}.png", colors)
        if p is not None:
            written.append(p)
    p = bitrate_figure(aggregates, metrics, out_dir / "bitrate_vs_quality.png", colors)
    if p is not None:
        written.append(p)
    if run is not None:
        p = rate_quality_figure(run, aggregates, metrics, out_dir / "rate_quality.png")
        if p is not None:
            written.insert(0, p)  # the headline figure of a depth sweep comes first in the report
    return written

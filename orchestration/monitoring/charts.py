"""Small SVG charts for Dagster metadata: latency percentiles over time, outcomes per variant, drift.

SVG, written by hand: matplotlib is not a dependency and plotly cannot export images without kaleido,
and a few lines and bars do not need either. Dagster renders markdown metadata, and a markdown image
with an SVG data URI (`as_markdown_image`) shows inline in the asset's materialization.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 32, 48
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
ALERT = "#d62728"


def _svg(body: list[str], title: str, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _y_axis(top: float, height: int, label: str) -> tuple[list[str], float]:
    """Axis with four ticks from 0 to a rounded top; returns the elements and the scale's top."""
    top = float(top) if np.isfinite(top) and top > 0 else 1.0
    bottom_px = height - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom_px}" stroke="#444"/>']
    for fraction in np.linspace(0, 1, 5):
        y = bottom_px - fraction * (bottom_px - TOP)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{fraction * top:.3g}</text>')
    parts.append(
        f'<text transform="translate(14 {(TOP + bottom_px) / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(label)}</text>"
    )
    return parts, top


def line_chart(
    x_labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str, y_label: str
) -> str:
    """One line per series over shared x positions, with a legend."""
    if not x_labels or not series:
        raise ValueError(f"line_chart {title!r} needs x labels and at least one series")
    for name, values in series.items():
        if len(values) != len(x_labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(x_labels)} x labels")
    peak = np.nanmax([np.nanmax(np.asarray(v, float)) for v in series.values()]) * 1.1
    body, top = _y_axis(peak, HEIGHT, y_label)
    plot_w, bottom_px = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM
    xs = LEFT + (np.arange(len(x_labels)) + 0.5) * plot_w / len(x_labels)
    step = max(1, len(x_labels) // 8)
    for x, label in list(zip(xs, x_labels, strict=True))[::step]:
        body.append(
            f'<text x="{x:.1f}" y="{bottom_px + 14}" text-anchor="middle">{escape(str(label))}</text>'
        )
    for i, (name, values) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        ys = bottom_px - np.asarray(values, float) / top * (bottom_px - TOP)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True) if np.isfinite(y))
        body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        legend_x = LEFT + 8 + i * 90
        body.append(f'<rect x="{legend_x}" y="{HEIGHT - 18}" width="10" height="10" fill="{color}"/>')
        body.append(f'<text x="{legend_x + 14}" y="{HEIGHT - 9}">{escape(name)}</text>')
    return _svg(body, title)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    x_label: str,
    alert: Sequence[bool] | None = None,
    limit: float | None = None,
) -> str:
    """Horizontal bars (labels stay readable however many), alert bars in red, an optional limit line."""
    if len(labels) != len(values) or not labels:
        raise ValueError(
            f"bar_chart {title!r} needs as many values ({len(values)}) as labels ({len(labels)}), > 0"
        )
    alert = list(alert) if alert is not None else [False] * len(labels)
    row, label_w = 18, 170
    height = TOP + row * len(labels) + 28
    values_arr = np.nan_to_num(np.asarray(values, float))
    top = max(float(values_arr.max()), limit or 0.0) * 1.1 or 1.0
    plot_w = WIDTH - label_w - RIGHT - 40
    body = []
    for i, (label, value, red) in enumerate(zip(labels, values_arr, alert, strict=True)):
        y = TOP + i * row
        width = max(value, 0.0) / top * plot_w
        body.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(str(label))}</text>')
        body.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{width:.1f}" height="{row - 4}" '
            f'fill="{ALERT if red else PALETTE[0]}"/>'
        )
        body.append(f'<text x="{label_w + width + 4:.1f}" y="{y + 12}">{value:.3g}</text>')
    if limit is not None:
        x = label_w + limit / top * plot_w
        body.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{height - 24}" '
            'stroke="#444" stroke-dasharray="4 3"/>'
        )
    body.append(
        f'<text x="{label_w + plot_w / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>'
    )
    return _svg(body, title, height)


def latency_chart(latency: pd.DataFrame, bucket_ms: int = 60_000) -> str:
    """p50/p95/p99 of latency_ms per time bucket of predicted_ms (prediction records)."""
    buckets = latency["predicted_ms"] // bucket_ms * bucket_ms
    grouped = latency.groupby(buckets)["latency_ms"]
    table = pd.DataFrame({f"p{q}": grouped.quantile(q / 100) for q in (50, 95, 99)})
    start = table.index.min()
    x = [f"+{(t - start) / 60_000:.0f}m" for t in table.index]
    return line_chart(x, {name: table[name].tolist() for name in table}, "Latency percentiles", "ms")


def outcomes_chart(per_variant: pd.DataFrame, figure: str = "mean_cost") -> str:
    """One figure of the per-variant outcomes table (mean cost by default) per variant."""
    if figure not in per_variant.columns:
        raise ValueError(f"per-variant table has no column {figure!r}; have {list(per_variant.columns)}")
    labels = [f"{name} (n={n})" for name, n in zip(per_variant.index, per_variant["n"], strict=True)]
    return bar_chart(labels, per_variant[figure].tolist(), f"{figure} per variant", figure)


def drift_chart(per_feature: pd.DataFrame) -> str:
    """Drift score per feature (orchestration.monitoring.drift's table), drifted features in red."""
    threshold = float(per_feature["threshold"].max()) if per_feature["threshold"].nunique() == 1 else None
    return bar_chart(
        list(per_feature.index),
        per_feature["drift_score"].tolist(),
        "Drift score by feature",
        "drift score (Wasserstein normed / Jensen-Shannon)",
        alert=per_feature["drifted"].tolist(),
        limit=threshold,
    )


def as_markdown_image(svg: str, alt: str) -> str:
    """A markdown image with the SVG inline as a data URI, for MetadataValue.md."""
    encoded = base64.b64encode(svg.encode()).decode("ascii")
    return f"![{alt}](data:image/svg+xml;base64,{encoded})"

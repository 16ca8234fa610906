"""A soak's plots: its processes over time, and its epochs' figures (matplotlib, inline SVG).

Every plot is on the soak's clock (seconds into the soak) with the run report's marks (kills,
lock holds, backpressure) moved onto it, and the epoch boundaries as dotted lines. The
per-process lines are drawn per lifetime (a killed worker's successor is a new line of the
same colour), with the slope the soak measured drawn through each lifetime it was fitted on.
"""

from __future__ import annotations

import math
from typing import Any

from stress.report.plots import (
    Marks,
    draw_marks,
    figure_rows,
    inline_svg,
    legend_of_marks,
    marks_of,
    require_matplotlib,
)
from stress.report.soak_data import SoakData
from stress.soak.verdict import PROCESS_METRICS, slopes_since_s

__all__ = ["SOAK_PLOTS", "draw_soak_plots"]

#: Every plot of a soak's report, in page order.
SOAK_PLOTS = ("process_rss", "process_files_threads", "epoch_latency", "wal_high_water")
_WIDTH_IN = 10.0
_X_LABEL = "seconds into the soak"


def draw_soak_plots(data: SoakData) -> dict[str, str]:
    """Every plot's inline SVG, by its name in :data:`SOAK_PLOTS`."""
    require_matplotlib()
    marks = _soak_marks(data)
    return {
        "process_rss": _process_rss(data, marks),
        "process_files_threads": _process_files_threads(data, marks),
        "epoch_latency": _epoch_latency(data, marks),
        "wal_high_water": _wal_high_water(data, marks),
    }


def _soak_marks(data: SoakData) -> Marks:
    """The run's marks, moved from the run's clock onto the soak's."""
    run, shift = marks_of(data.run.summary), data.offset_s
    return Marks(
        [(a + shift, b + shift, cause) for a, b, cause in run.backpressure],
        [(at + shift, label) for at, label in run.kills],
        [(a + shift, b + shift, label) for a, b, label in run.locks],
    )


def _finish(ax: Any, data: SoakData, marks: Marks) -> None:
    """The marks, the epoch boundaries and the legend every soak plot carries."""
    draw_marks(ax, marks)
    for epoch in data.soak["epochs"][:-1]:
        ax.axvline(epoch["end_s"], color="grey", lw=0.6, ls=":")
    legend_of_marks(ax, marks)


def _process_axis(ax: Any, data: SoakData, metric: str) -> None:
    """One line per process lifetime, and the soak's slope through each fitted lifetime."""
    read = PROCESS_METRICS[metric]
    lives: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for sample in data.samples.samples:
        life = lives.setdefault(sample.label, {}).setdefault(sample.pid, [])
        life.append((sample.t_s, read(sample)))
    colours = {label: f"C{i}" for i, label in enumerate(sorted(lives))}
    for label, by_pid in sorted(lives.items()):
        for n, points in enumerate(by_pid.values()):
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=colours[label], lw=1.0, label=label if n == 0 else None)
    since = slopes_since_s([epoch["end_s"] for epoch in data.soak["epochs"]])
    fitted_on = data.samples.lifetimes(since, read)
    for label, fit in sorted(data.soak["slopes"].get(metric, {}).items()):
        per_s = fit["per_h"] / 3600
        name = f"{label} slope {fit['per_h']:+.1f}/h [{fit['low']:.1f}, {fit['high']:.1f}]"
        for n, points in enumerate(fitted_on.get(label, [])):
            # The least-squares intercept of a lifetime, given the slope they all share.
            mean_t = sum(t for t, _ in points) / len(points)
            mean_y = sum(y for _, y in points) / len(points)
            ends = (points[0][0], points[-1][0])
            ax.plot(
                ends,
                [mean_y + per_s * (t - mean_t) for t in ends],
                color=colours.get(label, "black"),
                lw=2.4,
                ls=(0, (4, 2)),
                label=name if n == 0 else None,
            )


def _process_rss(data: SoakData, marks: Marks) -> str:
    with figure_rows(1) as (fig, (ax,)):
        fig.set_size_inches(_WIDTH_IN, 3.6)
        _process_axis(ax, data, "rss_slope_mb_per_h")
        ax.set_ylabel("resident memory, MB")
        _finish(ax, data, marks)
        ax.set_xlabel(_X_LABEL)
        return inline_svg(fig)


def _process_files_threads(data: SoakData, marks: Marks) -> str:
    with figure_rows(2) as (fig, (files, threads)):
        _process_axis(files, data, "open_files_slope_per_h")
        files.set_ylabel("open files")
        _process_axis(threads, data, "threads_slope_per_h")
        threads.set_ylabel("threads")
        for ax in (files, threads):
            _finish(ax, data, marks)
        threads.set_xlabel(_X_LABEL)
        return inline_svg(fig)


def _steps(ax: Any, epochs: list[dict[str, Any]], values: list[float], **style: Any) -> None:
    """A value held over each epoch's span (NaN: the epoch had none)."""
    xs = [epoch["start_s"] for epoch in epochs] + [epochs[-1]["end_s"]]
    ax.plot(xs, [*values, values[-1]], drawstyle="steps-post", lw=1.4, **style)


def _epoch_latency(data: SoakData, marks: Marks) -> str:
    """Throughput, and p50 and p99 per op, per epoch."""
    epochs = data.soak["epochs"]
    ops = sorted({op for epoch in epochs for op in epoch["latency_ms"]})
    with figure_rows(3) as (fig, (rate, p50, p99)):
        if epochs:
            _steps(rate, epochs, [e["throughput_ops_per_s"] for e in epochs], label="all ops")
            for ax, pct in ((p50, "p50"), (p99, "p99")):
                for op in ops:
                    values = [e["latency_ms"].get(op, {}).get(pct, math.nan) for e in epochs]
                    _steps(ax, epochs, values, label=op)
                ax.set_yscale("log")
        rate.set_ylabel("throughput, ops/s")
        p50.set_ylabel("p50 latency, ms")
        p99.set_ylabel("p99 latency, ms")
        for ax in (rate, p50, p99):
            _finish(ax, data, marks)
        p99.set_xlabel(_X_LABEL)
        return inline_svg(fig)


def _wal_high_water(data: SoakData, marks: Marks) -> str:
    """Each epoch's WAL high-water mark (red: its WAL checkpoint check failed) and the limit."""
    epochs = data.soak["epochs"]
    limit = next(
        (t["limit"] for t in data.soak["thresholds"] if t["metric"] == "wal_high_water_mb"), None
    )
    with figure_rows(1) as (fig, (ax,)):
        fig.set_size_inches(_WIDTH_IN, 3.2)
        values = [epoch["wal_high_water_mb"] for epoch in epochs]
        ax.bar(
            [epoch["start_s"] for epoch in epochs],
            values,
            width=[epoch["end_s"] - epoch["start_s"] for epoch in epochs],
            align="edge",
            color=["#d62728" if _wal_failed(epoch) else "#1f77b4" for epoch in epochs],
            edgecolor="white",
            label="WAL high-water",
        )
        label = "WAL high-water, MB"
        if limit is not None:
            if max(values, default=0.0) >= limit / 4:
                ax.axhline(limit, color="grey", ls=":", lw=1, label="limit")
            label += f"\n(limit {limit:g})"
        ax.set_ylabel(label)
        _finish(ax, data, marks)
        ax.set_xlabel(_X_LABEL)
        return inline_svg(fig)


def _wal_failed(epoch: dict[str, Any]) -> bool:
    return any(r["name"] == "wal_checkpoint" and not r["ok"] for r in epoch["invariants"])

"""The report's plots, drawn with matplotlib (the extra ``stress[report]``) as inline SVG.

Every plot over time shares one time axis (seconds into the run) and the same marks:
backpressure spans shaded per cause, lock faults shaded over their hold, kills as red lines.
matplotlib is imported here only, on first use; without it :func:`require_matplotlib` raises
one line that says what to install.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stress.errors import StressError
from stress.report.data import METRICS, CurvePoint, RunData, Series

__all__ = [
    "Marks",
    "Plots",
    "ReportNeedsExtraError",
    "draw_marks",
    "draw_plots",
    "figure_rows",
    "inline_svg",
    "legend_of_marks",
    "marks_of",
    "require_matplotlib",
]

_INSTALL = "pip install 'stress[report]' (or: pip install matplotlib)"
_WIDTH_IN = 10.0
_ROW_IN = 2.4
_CAUSE_COLOURS = {"memory": "#d62728", "cpu": "#ff7f0e", "wal": "#9467bd", "disk": "#8c564b"}


class ReportNeedsExtraError(StressError, RuntimeError):
    """``stress report`` without matplotlib."""

    exit_code = 2

    def __init__(self, missing: str) -> None:
        super().__init__(f"stress report needs {missing}, which is not installed: {_INSTALL}")


def require_matplotlib() -> Any:
    """The ``matplotlib.pyplot`` module (Agg backend), or one line on what to install."""
    try:
        import matplotlib
    except ImportError:
        raise ReportNeedsExtraError("matplotlib") from None
    matplotlib.use("Agg")
    # Text stays text (small files); a fixed hash salt keeps the SVG ids the same run to run.
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "stress-report"})
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True)
class Marks:
    """What every time plot shades or marks, in seconds into the run."""

    #: (start, end, cause) of each backpressure span.
    backpressure: list[tuple[float, float, str]]
    #: (time, label) of each kill.
    kills: list[tuple[float, str]]
    #: (start, end, label) of each lock held by the lock fault.
    locks: list[tuple[float, float, str]]


def marks_of(summary: dict[str, Any]) -> Marks:
    """Backpressure spans from the on/off events; faults from the fault events."""
    end = float(summary["results"].get("actual_duration_secs", 0.0))
    spans: list[tuple[float, float, str]] = []
    opened: dict[str, float] = {}
    for event in summary.get("backpressure", {}).get("events", []):
        if event["transition"] == "on":
            opened.setdefault(event["cause"], event["t_s"])
        elif event["cause"] in opened:
            spans.append((opened.pop(event["cause"]), event["t_s"], event["cause"]))
    spans.extend((start, max(end, start), cause) for cause, start in opened.items())
    kills, locks = [], []
    for event in summary.get("faults", {}).get("events", []):
        if event["kind"] == "lock":
            hold = event.get("hold_s") or 0.0
            locks.append((event["t_s"], event["t_s"] + hold, event["target"]))
        else:
            kills.append((event["t_s"], event["target"]))
    return Marks(spans, kills, locks)


def draw_marks(ax: Any, marks: Marks) -> None:
    for start, end, cause in marks.backpressure:
        ax.axvspan(start, end, color=_CAUSE_COLOURS.get(cause, "grey"), alpha=0.15, lw=0)
    for start, end, _ in marks.locks:
        ax.axvspan(start, end, facecolor="none", edgecolor="#ff7f0e", hatch="//", alpha=0.5, lw=0)
    for at, _ in marks.kills:
        ax.axvline(at, color="#d62728", lw=1.2, ls="--")


def legend_of_marks(ax: Any, marks: Marks) -> None:
    """One legend naming the marks the plot carries (only those the run had)."""
    from matplotlib.patches import Patch

    handles = list(ax.get_legend_handles_labels()[0])  # the labelled lines only
    causes = sorted({cause for _, _, cause in marks.backpressure})
    handles += [
        Patch(color=_CAUSE_COLOURS.get(c, "grey"), alpha=0.3, label=f"backpressure: {c}")
        for c in causes
    ]
    if marks.locks:
        handles.append(Patch(facecolor="none", edgecolor="#ff7f0e", hatch="//", label="lock held"))
    if marks.kills:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="#d62728", ls="--", label="worker killed"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


@contextmanager
def figure_rows(rows: int) -> Iterator[tuple[Any, list[Any]]]:
    plt = require_matplotlib()
    fig, axes = plt.subplots(
        rows, 1, figsize=(_WIDTH_IN, _ROW_IN * rows), sharex=True, squeeze=False
    )
    try:
        yield fig, [row[0] for row in axes]
    finally:
        plt.close(fig)


def inline_svg(fig: Any) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no DOCTYPE)."""
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # The metadata block names RDF vocabularies by URL; a page that fetches nothing needs none.
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def _per_op(ax: Any, by_op: dict[str, Series], pick: Callable[[Series], list[float]]) -> None:
    for op, series in sorted(by_op.items()):
        ax.plot(series.t_s, pick(series), lw=1.2, label=op, marker=".", ms=3)


def throughput_latency(data: RunData, marks: Marks) -> str:
    """Throughput and p99 latency per op over time."""
    by_op = data.series.get("latency", {})
    with figure_rows(3) as (fig, (rate, p50, p99)):
        _per_op(rate, by_op, lambda s: s.ops_per_s)
        rate.set_ylabel("ops/s")
        _per_op(p50, by_op, lambda s: s.p50_ms)
        p50.set_ylabel("p50 latency, ms")
        _per_op(p99, by_op, lambda s: s.p99_ms)
        p99.set_ylabel("p99 latency, ms")
        for ax in (p50, p99):
            ax.set_yscale("log")
        for ax in (rate, p50, p99):
            draw_marks(ax, marks)
            legend_of_marks(ax, marks)
        p99.set_xlabel("seconds into the run")
        return inline_svg(fig)


def metrics_over_time(data: RunData, marks: Marks) -> str:
    """Service time, schedule lag and backpressure wait (p99 per op) over time."""
    names = [m for m in METRICS if m != "latency"]
    with figure_rows(len(names)) as (fig, axes):
        for ax, metric in zip(axes, names, strict=True):
            by_op = data.series.get(metric, {})
            label = metric
            if metric == "service" and not by_op:
                # Closed loop: an op's latency is its service time (there is no schedule).
                by_op, label = data.series.get("latency", {}), "service\n(= latency)"
            _per_op(ax, by_op, lambda s: s.p99_ms)
            ax.set_ylabel(f"{label}\np99, ms", fontsize=8)
            if not by_op:
                ax.text(0.5, 0.5, _absent(metric), transform=ax.transAxes, ha="center", va="center")
            elif max(max(s.p99_ms) for s in by_op.values()) > 0:
                ax.set_yscale("log")
            draw_marks(ax, marks)
            legend_of_marks(ax, marks)
        axes[-1].set_xlabel("seconds into the run")
        end = data.summary["results"].get("actual_duration_secs", 0.0)
        axes[-1].set_xlim(0, max(end, 1.0))
        return inline_svg(fig)


def _absent(metric: str) -> str:
    if metric == "backpressure_wait":
        return "no user waited on backpressure"
    return f"no {metric} recorded: closed loop (service time is the latency)"


_RESOURCES = (
    ("rss_mb", "resident memory, MB"),
    ("cpu_percent", "CPU, % of one core"),
    ("wal_mb", "largest WAL, MB"),
    ("disk_mb", "databases + spools, MB"),
)


def resources(summary: dict[str, Any], marks: Marks) -> str:
    """The monitor's samples over time, with its limits as dotted lines."""
    timeline = summary.get("resources", {}).get("timeline", [])
    limits = summary.get("backpressure", {}).get("limits", {})
    limit_of = {"rss_mb": "memory", "cpu_percent": "cpu", "wal_mb": "wal", "disk_mb": "disk"}
    with figure_rows(len(_RESOURCES)) as (fig, axes):
        times = [entry["t_s"] for entry in timeline]
        for ax, (key, label) in zip(axes, _RESOURCES, strict=True):
            values = [entry[key] for entry in timeline]
            ax.plot(times, values, lw=1.2, label=key)
            limit = limits.get(limit_of[key])
            if limit is not None:
                # Drawn only when the samples come near it: far off, it flattens them.
                if max(values, default=0.0) >= limit / 4:
                    ax.axhline(limit, color="grey", ls=":", lw=1, label="limit")
                label = f"{label}\n(limit {limit:g})"
            ax.set_ylabel(label, fontsize=8)
            draw_marks(ax, marks)
            legend_of_marks(ax, marks)
        axes[-1].set_xlabel("seconds into the run (from the monitor's start)")
        return inline_svg(fig)


def percentile_curves(curves: dict[str, list[CurvePoint]]) -> str:
    """HDR percentile distributions per op: latency (log) against 1/(1-p) (log)."""
    with figure_rows(1) as (fig, (ax,)):
        fig.set_size_inches(_WIDTH_IN, 4.0)
        top = 1.0
        for op, points in sorted(curves.items()):
            finite = [p for p in points if p.percentile < 100.0]
            xs = [1.0 / (1.0 - p.percentile / 100.0) for p in finite]
            ax.plot(xs, [max(p.value_ms, 1e-3) for p in finite], lw=1.2, label=op)
            top = max([top, *xs])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [t for t in (1, 2, 10, 100, 1_000, 10_000, 100_000) if t <= top * 1.01]
        names = {1: "0%", 2: "50%", 10: "90%", 100: "99%", 1_000: "99.9%"}
        ax.set_xticks(ticks, [names.get(t, f"{100 - 100 / t:g}%") for t in ticks])
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency, ms")
        ax.grid(True, which="major", alpha=0.3)
        if curves:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:  # no HDR log to draw from (a full disk stopped them before the first line)
            ax.text(0.5, 0.5, "no HDR log data", ha="center", va="center", transform=ax.transAxes)
        return inline_svg(fig)


@dataclass(frozen=True)
class Plots:
    """Each plot's inline SVG, keyed by the section that shows it."""

    throughput_latency: str
    metrics: str
    resources: str
    percentiles: str


def draw_plots(data: RunData) -> Plots:
    """Every plot of the report."""
    require_matplotlib()
    marks = marks_of(data.summary)
    return Plots(
        throughput_latency=throughput_latency(data, marks),
        metrics=metrics_over_time(data, marks),
        resources=resources(data.summary, marks),
        percentiles=percentile_curves(data.curves),
    )

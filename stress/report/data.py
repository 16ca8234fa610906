"""A run folder read for a report: its summary, and time series from its HDR logs.

Series come from ``hlog/<metric>/<op>.hlog`` (every class's ops of a kind). A long run has more
intervals than a plot has room for, so adjacent intervals are merged (their histograms added,
exactly) down to at most :data:`MAX_POINTS` per series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stress.errors import RunFolderError
from stress.observe.hlog import HLOG_DIR, HlogInterval, read_hlog
from stress.observe.stats import LATENCY, new_histogram, percentiles_ms

__all__ = [
    "MAX_POINTS",
    "METRICS",
    "CurvePoint",
    "RunData",
    "Series",
    "load_run",
    "read_summary",
]

#: Most points of one time series in a plot.
MAX_POINTS = 400
#: The duration metrics drawn over time, in the order shown.
METRICS = ("latency", "service", "schedule_lag", "backpressure_wait")


@dataclass(frozen=True)
class Series:
    """One op's (or metric's) figures per interval: time in s, rates per s, latencies in ms."""

    t_s: list[float]
    ops_per_s: list[float]
    p50_ms: list[float]
    p99_ms: list[float]
    p99_9_ms: list[float]
    max_ms: list[float]


@dataclass(frozen=True)
class CurvePoint:
    """A point of an HDR percentile curve: the percentile and the latency at it (ms)."""

    percentile: float
    value_ms: float


@dataclass
class RunData:
    """Everything a report draws from one run folder."""

    folder: Path
    summary: dict[str, Any]
    #: metric -> op -> series (ops with no log are absent).
    series: dict[str, dict[str, Series]] = field(default_factory=dict)
    #: op -> its latency percentile curve over the whole run.
    curves: dict[str, list[CurvePoint]] = field(default_factory=dict)


def read_summary(path: Path) -> tuple[Path, dict[str, Any]]:
    """``(run folder, summary)`` from a run folder or a ``summary.json`` path."""
    file = path / "summary.json" if path.is_dir() else path
    if not file.is_file():
        raise RunFolderError(path, "no summary.json here; pass a run folder or its summary.json")
    try:
        document = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RunFolderError(
            file, f"not readable JSON ({exc}); pass an intact summary.json"
        ) from None
    if not isinstance(document, dict) or "results" not in document:
        raise RunFolderError(file, "not a stress summary (no results); pass a run's summary.json")
    return file.parent, document


def load_run(path: Path) -> RunData:
    """The summary and the HDR-log series of a run folder (a folder without logs: none)."""
    folder, summary = read_summary(path)
    data = RunData(folder, summary)
    for metric in METRICS:
        for log in sorted((folder / HLOG_DIR / metric).glob("*.hlog")):
            intervals = list(read_hlog(log))
            if not intervals:
                continue
            data.series.setdefault(metric, {})[log.stem] = _series(intervals)
            if metric == LATENCY:
                data.curves[log.stem] = _curve(intervals)
    return data


def _merged(intervals: list[HlogInterval]) -> list[HlogInterval]:
    """At most :data:`MAX_POINTS` intervals: runs of adjacent ones added together."""
    if len(intervals) <= MAX_POINTS:
        return intervals
    width = -(-len(intervals) // MAX_POINTS)
    merged = []
    for start in range(0, len(intervals), width):
        group = intervals[start : start + width]
        hist = new_histogram()
        for interval in group:
            hist.add(interval.histogram)
        merged.append(HlogInterval(group[0].start_s, group[-1].end_s, hist))
    return merged


def _series(intervals: list[HlogInterval]) -> Series:
    series = Series([], [], [], [], [], [])
    for interval in _merged(intervals):
        figures = percentiles_ms(interval.histogram)
        width = interval.end_s - interval.start_s
        series.t_s.append(round(interval.end_s, 3))
        series.ops_per_s.append(figures["count"] / width if width > 0 else 0.0)
        series.p50_ms.append(figures["p50"])
        series.p99_ms.append(figures["p99"])
        series.p99_9_ms.append(figures["p99_9"])
        series.max_ms.append(figures["max"])
    return series


def _curve(intervals: list[HlogInterval]) -> list[CurvePoint]:
    """The classic HDR percentile distribution (its ticks halve the distance to 100%)."""
    hist = new_histogram()
    for interval in intervals:
        hist.add(interval.histogram)
    points = []
    for item in hist.get_percentile_iterator(5):
        percentile = float(item.percentile_level_iterated_to)
        if percentile >= 100.0:
            break
        points.append(CurvePoint(percentile, item.value_iterated_to / 1000.0))
    points.append(CurvePoint(100.0, hist.get_max_value() / 1000.0))
    return points

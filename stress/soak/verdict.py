"""From the epochs and the samples to the soak's figures, its slopes, and the thresholds judged.

Leaks and drift are measured from the second epoch on (the first is warm-up). Per process:
the slopes of resident memory, open files and threads; per epoch series: WAL high-water,
database bytes per row, spool lines, p50 and p99 per op, throughput. A slope limit is judged
on the lower end of the slope's 95% interval; every other limit on the measured value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stress.soak.epochs import EpochRecord
from stress.soak.resources import ProcessSample, ResourceLog
from stress.soak.slopes import Slope, slope
from stress.soak.thresholds import Limit, Thresholds

__all__ = [
    "NOT_MEASURED",
    "PROCESS_METRICS",
    "Measured",
    "ThresholdResult",
    "judge",
    "measure",
    "slopes_since_s",
]

#: The state of a limit whose figure the soak could not measure.
NOT_MEASURED = "not measured"

PROCESS_METRICS: dict[str, Callable[[ProcessSample], float]] = {
    "rss_slope_mb_per_h": lambda s: s.rss_mb,
    "open_files_slope_per_h": lambda s: float(s.open_files),
    "threads_slope_per_h": lambda s: float(s.threads),
}


@dataclass(frozen=True)
class Measured:
    """Every figure a soft limit may name, and the slopes behind them."""

    values: dict[str, float]
    #: metric -> label (process, or series) -> slope.
    slopes: dict[str, dict[str, Slope]]
    measured_epochs: int


@dataclass(frozen=True)
class ThresholdResult:
    metric: str
    limit: float
    #: None: not measured (too few epochs or samples for the figure).
    value: float | None
    #: False only for a measured value that broke the limit: a soak too short to measure a
    #: figure does not fail for it, but never shows it as passed either (see :attr:`state`).
    ok: bool
    detail: str

    @property
    def measured(self) -> bool:
        return self.value is not None

    @property
    def state(self) -> str:
        """``pass``, ``FAIL`` or ``not measured``: what stdout, JUnit and the report show."""
        if not self.measured:
            return NOT_MEASURED
        return "pass" if self.ok else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "limit": self.limit,
            "value": self.value,
            "ok": self.ok,
            "measured": self.measured,
            "detail": self.detail,
        }


def measure(epochs: Sequence[EpochRecord], resources: ResourceLog) -> Measured:
    """The soak's figures from its epochs (the first left out) and its process samples.

    The last epoch is left out of the per-epoch figures too when it is shorter than half the
    first (the seconds between the last boundary and the stop): its few ops are no epoch.
    """
    measured = list(epochs[1:])
    if len(measured) > 1 and _span(measured[-1]) < 0.5 * _span(epochs[0]):
        measured.pop()
    since = slopes_since_s([epoch.end_s for epoch in epochs])
    values: dict[str, float] = {}
    slopes: dict[str, dict[str, Slope]] = {}
    for metric, read in PROCESS_METRICS.items():
        found = resources.slopes(since, read)
        slopes[metric] = found
        if found:
            values[metric] = max(fit.low for fit in found.values())
    if epochs:
        values["wal_high_water_mb"] = max(epoch.wal_high_water_mb for epoch in epochs)
    series = {
        "bytes_per_row_slope_per_h": [e.bytes_per_row for e in measured],
        "spool_lines_slope_per_h": [float(e.spool_lines) for e in measured],
        "throughput_slope_per_h": [e.throughput for e in measured],
    }
    for op in sorted({op for e in measured for op in e.latency_ms}):
        for pct in ("p50", "p99"):
            points = [e.latency_ms[op][pct] for e in measured if op in e.latency_ms]
            if len(points) == len(measured) and points:
                values[f"{pct}_ms.{op}"] = max(points)
                series[f"{pct}_ms_slope_per_h.{op}"] = points
    times = [e.end_s for e in measured]
    for name, points in series.items():
        fitted = slope(times, points) if len(points) >= 3 else None
        if fitted is not None:
            slopes.setdefault(name, {})["series"] = fitted
            if name in ("bytes_per_row_slope_per_h", "spool_lines_slope_per_h"):
                values[name] = fitted.low
    drop = _throughput_drop_pct(measured, slopes.get("throughput_slope_per_h", {}).get("series"))
    if drop is not None:
        values["throughput_drop_pct"] = drop
    return Measured(values, slopes, len(measured))


def slopes_since_s(epoch_ends_s: Sequence[float]) -> float:
    """Where the per-process slopes start, s: the end of the first epoch (warm-up); with one
    epoch or none, never (no slope)."""
    return epoch_ends_s[0] if len(epoch_ends_s) > 1 else float("inf")


def _span(epoch: EpochRecord) -> float:
    return epoch.end_s - epoch.start_s


def _throughput_drop_pct(measured: Sequence[EpochRecord], fit: Slope | None) -> float | None:
    """How much lower the throughput surely ends than it starts, %, on a line.

    The line through every measured epoch (not the first and last epoch alone: on a shared
    machine one epoch swings with the neighbours' load), at the end of its slope's 95%
    interval nearest to no drop, as slope limits are judged on their surely-reached end. None
    without a line (fewer than 3 measured epochs).
    """
    if fit is None or len(measured) < 3:
        return None
    mean = sum(e.throughput for e in measured) / len(measured)
    times = [e.end_s for e in measured]
    centre = sum(times) / len(times)
    per_s = fit.high / 3600
    start, end = mean + per_s * (times[0] - centre), mean + per_s * (times[-1] - centre)
    return round(100 * (start - end) / start, 2) if start > 0 else None


def judge(thresholds: Thresholds, measured: Measured) -> list[ThresholdResult]:
    """Every soft limit with its measured value; one not measured (too short) does not fail
    the soak, and is shown as not measured, never as passed."""
    return [_judge_one(limit, measured) for limit in thresholds.soft.values()]


def _judge_one(limit: Limit, measured: Measured) -> ThresholdResult:
    value = measured.values.get(limit.metric)
    if value is None:
        detail = (
            f"not measured ({measured.measured_epochs} measured epoch(s)); limit {limit.limit:g}"
        )
        return ThresholdResult(limit.metric, limit.limit, None, True, detail)
    ok = limit.passes(value)
    how = "95% lower bound " if "_slope_" in limit.metric else ""
    relation = "<" if ok else ">="
    detail = f"{how}{value:.3f} {relation} limit {limit.limit:g}"
    return ThresholdResult(limit.metric, limit.limit, round(value, 4), ok, detail)

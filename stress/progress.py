"""What the operator sees: a live progress line while the run goes, a results block at the end.

The formatting functions are pure (figures in, text out) so they are tested without a terminal;
:class:`ProgressReporter` only decides where and how often the text is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from stress.stats import ERROR_CLASSES, LiveFigures

__all__ = [
    "ProgressReporter",
    "format_duration",
    "format_live_line",
    "format_results_block",
]

# Erase the whole line after returning the cursor, so a shorter line leaves no tail behind.
_REWRITE = "\r\x1b[2K"


def format_duration(seconds: float) -> str:
    """``12.5s`` under a minute, ``4m05s`` under an hour, ``26h03m07s`` beyond."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def format_live_line(
    figures: LiveFigures,
    elapsed_s: float,
    total_s: float | None = None,
    total_ops: int | None = None,
) -> str:
    """One progress line, e.g. ``[ 12.5s / 30.0s ] 1,234 ops  98.7 ops/s  p99 4.21 ms  errors 0``.

    ``ops/s`` and ``p99`` (ms) are those of the last closed interval; a run bounded by an
    operation count shows ``1,234 / 10,000 ops``.
    """
    clock = format_duration(elapsed_s)
    if total_s is not None:
        clock = f"{clock} / {format_duration(total_s)}"
    ops = f"{figures.total_ops:,}"
    if total_ops is not None:
        ops = f"{ops} / {total_ops:,}"
    return (
        f"[ {clock} ] {ops} ops  {figures.interval_ops_per_s:,.1f} ops/s  "
        f"p99 {figures.interval_p99_ms:.2f} ms  errors {figures.errors:,}"
    )


class ProgressReporter:
    """Writes the live line to ``stream``.

    On a terminal the line is rewritten in place, at most once per ``min_repaint_s`` seconds of
    ``clock`` (the last figures are painted by :meth:`finish`); elsewhere (a log file, CI) every
    :meth:`update` appends one plain line, so the log shows one line per log interval.
    """

    def __init__(
        self,
        stream: TextIO,
        total_s: float | None,
        total_ops: int | None,
        is_tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_repaint_s: float = 0.1,
    ) -> None:
        self._stream = stream
        self._total_s = total_s
        self._total_ops = total_ops
        self._is_tty = _isatty(stream) if is_tty is None else is_tty
        self._clock = clock
        self._min_repaint_s = min_repaint_s
        self._painted_at: float | None = None
        self._pending: str | None = None

    def update(self, figures: LiveFigures, elapsed_s: float) -> None:
        """Show ``figures`` at ``elapsed_s`` seconds into the run."""
        line = format_live_line(figures, elapsed_s, self._total_s, self._total_ops)
        if not self._is_tty:
            self._write(line + "\n")
            return
        now = self._clock()
        if self._painted_at is not None and now - self._painted_at < self._min_repaint_s:
            self._pending = line
            return
        self._paint(line, now)

    def finish(self) -> None:
        """End the live line: paint what a throttled update held back, then a newline."""
        if not self._is_tty:
            return
        if self._pending is not None:
            self._paint(self._pending, self._clock())
        if self._painted_at is not None:
            self._write("\n")
        self._painted_at = None

    def _paint(self, line: str, now: float) -> None:
        self._write(_REWRITE + line)
        self._painted_at = now
        self._pending = None

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream is not a terminal
        return False


def format_results_block(results: Mapping[str, Any], stop_reason: str, run_dir: str) -> str:
    """The final block: totals, rates, latency (ms), a table by op, errors by class, artifacts.

    ``results`` is :meth:`stress.stats.StatsAggregator.results`' output.
    """
    latency = results["latency_ms"]
    lines = [
        f"stopped      {stop_reason} after {format_duration(results['actual_duration_secs'])}",
        f"operations   {results['total_operations']:,} "
        f"({results['failed_operations']:,} failed)  "
        f"{results['throughput_ops_per_sec']:,.1f} ops/s",
        f"rows         {results['total_rows_inserted']:,} inserted  "
        f"{results['insert_rows_per_sec']:,.1f} rows/s",
        "latency ms   "
        + "  ".join(f"{label} {latency[key]:.3f}" for key, label in _BLOCK_PERCENTILES),
        "",
        *_op_table(results),
        "",
        f"errors       {_errors_line(results['errors_by_class'])}",
        f"artifacts    {run_dir}",
    ]
    return "\n".join(lines)


# (key in a latency summary, label shown)
_BLOCK_PERCENTILES = (
    ("p50", "p50"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p99_9", "p99.9"),
    ("max", "max"),
)


def _op_table(results: Mapping[str, Any]) -> list[str]:
    """Rows of ``op  count  p50 ms  p99 ms  errors``, columns aligned."""
    counts: Mapping[str, int] = results["operations_by_type"]
    failed: Mapping[str, int] = results.get("failed_operations_by_type", {})
    by_op: Mapping[str, Mapping[str, float]] = results["latency_by_op"]
    rows = [("op", "count", "p50 ms", "p99 ms", "errors")]
    for op in sorted(counts):
        latency = by_op.get(op, {})
        rows.append(
            (
                op,
                f"{counts[op]:,}",
                f"{latency.get('p50', 0.0):.3f}",
                f"{latency.get('p99', 0.0):.3f}",
                f"{failed.get(op, 0):,}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    return [
        "  ".join(
            [row[0].ljust(widths[0])]
            + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        )
        for row in rows
    ]


def _errors_line(errors_by_class: Mapping[str, int]) -> str:
    """``busy 3, lock_timeout 1`` in :data:`ERROR_CLASSES` order, or ``none``."""
    order = [name for name in ERROR_CLASSES if name in errors_by_class]
    order += sorted(set(errors_by_class) - set(ERROR_CLASSES))
    shown = [f"{name} {errors_by_class[name]:,}" for name in order if errors_by_class[name]]
    return ", ".join(shown) if shown else "none"

"""What the operator sees: a live progress line while the run goes, a results block at the end.

The formatting functions are pure (figures in, text out) so they are tested without a terminal;
:class:`ProgressReporter` only decides where and how often the text is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from stress.clock import Clock, SystemClock
from stress.metadb import INTERRUPTED
from stress.observe.memory import format_peak_memory
from stress.observe.stats import (
    ERROR_CLASSES,
    SCHEDULE_LAG,
    STORE_ERROR_COUNTER,
    LiveFigures,
)
from stress.outcomes import StopReason
from stress.plan.pacing import LATE_OPS, OVER_LIMIT_OPS, SKIPPED_OPS

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
    :meth:`update` appends one plain line, so the log shows one line per log interval. The run
    passes the coordinator's clock (the system's by default), so a test drives both by hand.
    """

    def __init__(
        self,
        stream: TextIO,
        total_s: float | None,
        total_ops: int | None,
        is_tty: bool | None = None,
        clock: Clock | None = None,
        min_repaint_s: float = 0.1,
    ) -> None:
        self._stream = stream
        self._total_s = total_s
        self._total_ops = total_ops
        self._is_tty = _isatty(stream) if is_tty is None else is_tty
        self._clock = clock or SystemClock()
        self._min_repaint_s = min_repaint_s
        self._painted_at: float | None = None
        self._pending: str | None = None

    def update(self, figures: LiveFigures, elapsed_s: float) -> None:
        """Show ``figures`` at ``elapsed_s`` seconds into the run."""
        line = format_live_line(figures, elapsed_s, self._total_s, self._total_ops)
        if not self._is_tty:
            self._write(line + "\n")
            return
        now = self._clock.now()
        if self._painted_at is not None and now - self._painted_at < self._min_repaint_s:
            self._pending = line
            return
        self._paint(line, now)

    def finish(self) -> None:
        """End the live line: paint what a throttled update held back, then a newline."""
        if not self._is_tty:
            return
        if self._pending is not None:
            self._paint(self._pending, self._clock.now())
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


def format_results_block(summary: Mapping[str, Any]) -> str:
    """The final block of a run's ``summary.json``: how it stopped, totals, rates, latency
    (ms), a table by op, errors by class and by the store's cause, and each of crashes, a
    stall, disk-budget substitutions, open-loop figures, backpressure and peak resources
    when there is something to say; last, where the artifacts are.
    """
    results = summary["results"]
    latency = results["latency_ms"]
    ops = _op_counts(summary)
    lines = [
        f"stopped      {summary['stop_reason']} after "
        f"{format_duration(results['actual_duration_secs'])}{_stop_detail(summary)}",
        f"operations   {ops.total:,} ({ops.detail()})  {ops.per_s:,.1f} ops/s",
        *_unreported_line(ops),
        f"rows         {results['total_rows_inserted']:,} inserted  "
        f"{results['insert_rows_per_sec']:,.1f} rows/s",
        "latency ms   "
        + "  ".join(f"{label} {latency[key]:.3f}" for key, label in _BLOCK_PERCENTILES),
        "",
        *_op_table(results),
        "",
        f"errors       {_errors_line(summary, ops.total)}",
        *_causes_lines(results, ops.total),
        *_stall_lines(summary),
        *_substitution_lines(summary, ops.substituted),
        *_pacing_lines(summary),
        *_backpressure_lines(summary),
        *_resources_lines(results, summary.get("resources") or {}),
        f"artifacts    {summary['run_dir']}",
        *_hlog_lines(summary),
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class _OpCounts:
    """The run's ops as its users recorded them, and as the stats saw them."""

    #: Ops the users took from their plans (run, substituted or skipped).
    total: int
    #: Ops in the stats (every op run).
    recorded: int
    failed: int
    interrupted: int
    skipped: int
    substituted: int
    per_s: float

    @property
    def unreported(self) -> int:
        """Ops their worker ran after its last report, before it was killed."""
        return max(0, self.total - self.recorded - self.skipped)

    def detail(self) -> str:
        parts = [f"{self.failed:,} failed"]
        parts += [f"{self.skipped:,} skipped"] if self.skipped else []
        shown = ", ".join(parts)
        if self.interrupted:
            shown += f"; {self.interrupted:,} more interrupted at the stop, rolled back"
        return shown


def _op_counts(summary: Mapping[str, Any]) -> _OpCounts:
    results, users = summary["results"], summary.get("users") or []
    recorded = int(results["total_operations"])
    skipped = sum(int(user.get("skipped", 0)) for user in users)
    interrupted = int(results.get("interrupted", 0))
    total = sum(int(user["ops_executed"]) for user in users) if users else recorded
    total = max(total, recorded + skipped)
    duration = float(results["actual_duration_secs"])
    return _OpCounts(
        total,
        recorded,
        int(results["failed_operations"]),
        interrupted,
        skipped,
        sum(int(user.get("substitutions", 0)) for user in users),
        total / duration if duration > 0 else 0.0,
    )


def _unreported_line(ops: _OpCounts) -> list[str]:
    if not ops.unreported:
        return []
    return [
        f"             {ops.unreported:,} of them ran after their worker's last report (it was "
        "killed): counted, not in the figures below"
    ]


# Units of the values each backpressure cause limits.
_CAUSE_UNITS = {"memory": "MB", "cpu": "% of one core", "wal": "MB", "disk": "MB"}


def _stop_detail(summary: Mapping[str, Any]) -> str:
    """Why a ``ResourceLimit`` or ``Stalled`` stop happened, after a colon."""
    reason = summary["stop_reason"]
    stall = summary.get("stall")
    if reason == StopReason.STALLED and stall:
        return (
            f": no user completed an op for {stall['no_progress_s']:.1f} s "
            f"(from {stall['since_s']:.1f} s; bound {stall['bound_s']:g} s)"
        )
    if reason != StopReason.RESOURCE:
        return ""
    backpressure = summary.get("backpressure") or {}
    if backpressure.get("stop_cause") == "disk" and backpressure.get("disk_full_at_s") is not None:
        at = float(backpressure["disk_full_at_s"])
        return f": disk full (no room to write, first met {at:.1f} s into the run)"
    causes = backpressure.get("stalled_by") or []
    if not causes:
        return ": the resource was not recorded"
    limits = backpressure.get("limits", {})
    named = ", ".join(
        f"{cause} above {limits.get(cause, 0):,g} {_CAUSE_UNITS.get(cause, '')}".rstrip()
        for cause in causes
    )
    return f": {named}, users paused longer than {backpressure.get('max_stall_s', 0):g} s"


def _hlog_lines(summary: Mapping[str, Any]) -> list[str]:
    error = summary.get("hlog_error")
    if not error:
        return []
    return [f"hlog         incomplete: the per-interval HDR logs stop at {error}"]


def _stall_lines(summary: Mapping[str, Any]) -> list[str]:
    stall = summary.get("stall")
    if not stall:
        return []
    last = "; ".join(
        f"user {user['user_id']} {user['last_ops'][-1] if user['last_ops'] else 'no op yet'}"
        for user in stall["users"]
    )
    return [f"stall        last ops: {last}"]


def _substitution_lines(summary: Mapping[str, Any], substituted: int) -> list[str]:
    if not substituted:
        return []
    over_s = float((summary.get("backpressure") or {}).get("disk_over_s", 0.0))
    return [
        f"substituted  {substituted:,} writes ran as selects: the disk budget was spent "
        f"for {over_s:.1f} s"
    ]


def _pacing_lines(summary: Mapping[str, Any]) -> list[str]:
    """Open-loop target vs achieved rate, schedule lag, late, skipped and over-limit ops."""
    results, open_loop = summary["results"], summary.get("open_loop")
    counters: Mapping[str, int] = results.get("counters", {})
    over = int(counters.get(OVER_LIMIT_OPS, 0))
    limit = (summary.get("config") or {}).get("latency_limit_ms")
    over_text = f"{over:,} over the {limit:g} ms latency limit" if over and limit else ""
    if not open_loop:
        return [f"limit        {over_text}"] if over_text else []
    lag = _worst_p99(results.get("metrics", {}).get(SCHEDULE_LAG, {}))
    parts = [
        f"target {open_loop['target_ops_per_sec']:,.1f} ops/s, achieved "
        f"{open_loop['achieved_ops_per_sec']:,.1f}",
        f"schedule lag p99 up to {lag:.3f} ms",
        f"{open_loop[LATE_OPS]:,} late",
        f"{open_loop[SKIPPED_OPS]:,} skipped",
    ]
    return [f"open loop    {'; '.join(parts + ([over_text] if over_text else []))}"]


def _worst_p99(by_class: Mapping[str, Mapping[str, Mapping[str, float]]]) -> float:
    return max((op["p99"] for ops in by_class.values() for op in ops.values()), default=0.0)


def _backpressure_lines(summary: Mapping[str, Any]) -> list[str]:
    backpressure = summary.get("backpressure") or {}
    paused = float(backpressure.get("paused_s", 0.0))
    if paused <= 0:
        return []
    by_cause = backpressure.get("paused_s_by_cause", {})
    held = ", ".join(f"{cause} {secs:.1f} s" for cause, secs in by_cause.items() if secs > 0)
    return [f"backpressure users paused {paused:.1f} s ({held})"]


def _resources_lines(results: Mapping[str, Any], resources: Mapping[str, Any]) -> list[str]:
    if "peak_memory_mb" not in results:
        return []
    lines = [
        f"resources    peak memory {results['peak_memory_mb']:,.1f} MB  "
        f"cpu {results['peak_cpu_percent']:,.0f}% of one core  load {results['peak_load']:.2f}  "
        f"disk {results['disk_used_mb']:,.1f} MB"
    ]
    if resources.get("peak_rss_mb_by_process"):
        lines.append(f"memory       {format_peak_memory(resources).removeprefix('peak memory  ')}")
    return lines


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


def _errors_line(summary: Mapping[str, Any], total_ops: int) -> str:
    """``busy 3 (0.1% of ops), ...`` in :data:`ERROR_CLASSES` order, then crashes and harness
    errors (told in full below the block); ``none`` only when there is none of them."""
    errors_by_class: Mapping[str, int] = summary["results"]["errors_by_class"]
    order = [name for name in ERROR_CLASSES if name in errors_by_class]
    order += sorted(set(errors_by_class) - set(ERROR_CLASSES))
    shown = [
        f"{name} {errors_by_class[name]:,}{_share(errors_by_class[name], total_ops)}"
        for name in order
        if errors_by_class[name]
    ]
    problems = _problems(summary)
    if problems:
        shown = [", ".join(shown) if shown else "none from the store", f"{problems} (below)"]
        return "; ".join(shown)
    return ", ".join(shown) if shown else "none"


def _problems(summary: Mapping[str, Any]) -> str:
    crashes = len(summary.get("crashes") or [])
    harness = len(summary.get("harness_errors") or [])
    harness += sum(1 for user in summary.get("users") or [] if user.get("harness_error"))
    parts = [f"{crashes} worker crash{'es' if crashes > 1 else ''}"] if crashes else []
    parts += [f"{harness} harness error{'s' if harness > 1 else ''}"] if harness else []
    return ", ".join(parts)


def _share(count: int, total: int) -> str:
    return f" ({100 * count / total:.0f}% of ops)" if total else ""


#: What each of the store's error classes means, for the ``causes`` line.
_CAUSE_HINTS = {
    "engine_refused": "the engine refused to open the file (turso refuses a second process "
    "on the same file)",
    "lock_timeout": "a write lock was held longer than the busy timeout",
    "busy": "the engine gave up on a lock at once (a snapshot conflict, or no busy timeout)",
    "disk_full": "the disk is full",
    "io_error": "the disk or file system failed a read or a write",
    "read_only": "the database or its folder is read-only",
    "corrupt": "the database file is damaged",
}


def _causes_lines(results: Mapping[str, Any], total_ops: int) -> list[str]:
    """The store's own error classes behind the failed ops, most frequent first."""
    counters: Mapping[str, int] = results.get("counters", {})
    causes = {
        name.removeprefix(STORE_ERROR_COUNTER): count
        for name, count in counters.items()
        if name.startswith(STORE_ERROR_COUNTER) and count
    }
    causes.pop(INTERRUPTED, None)  # counted with the operations, not a failure
    lines: list[str] = []
    for cause, count in sorted(causes.items(), key=lambda item: (-item[1], item[0])):
        hint = _CAUSE_HINTS.get(cause)
        lines.append(
            f"{'causes' if not lines else '':<13}{cause} {count:,}{_share(count, total_ops)}"
            + (f": {hint}" if hint else "")
        )
    return lines

"""Per-interval HDR logs: every histogram the workers send, kept as HdrHistogram log files.

The summary's timeline keeps one merged latency histogram per interval (and merges old
intervals pairwise in a long run); these logs keep every interval of every op, class and
metric, so a report (or HdrHistogram's own tools, e.g. ``HistogramLogProcessor``) can draw
latency over time per op. Layout under the run folder::

    hlog/<metric>/<op>.hlog                    every class's ops of that kind
    hlog/<metric>/by-class/<class>/<op>.hlog   one class's

``metric`` is ``latency``, ``service``, ``schedule_lag`` or ``backpressure_wait`` (the
histogram keys of :mod:`stress.observe.stats`). Lines are written with the ``hdrhistogram``
package's own :class:`~hdrh.log.HistogramLogWriter`: the interval start and length in seconds
since the run's start (a ``BaseTime`` header holds that start as seconds since the epoch), the
interval's max in **milliseconds**, and the histogram, whose values are **microseconds**. An
interval with no value for a key writes no line. Files are opened for each append and closed
again, and a line is appended whole or not at all, so a run killed at any moment (or a
full disk) leaves whole lines up to its last closed interval.

A write that fails (a full disk) never fails the run: the writer stops writing, and
:attr:`HlogWriter.error` says why the logs are short.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.log import HistogramLogReader, HistogramLogWriter

from stress.observe.stats import HistKey, new_histogram

__all__ = [
    "BY_CLASS",
    "HLOG_DIR",
    "HlogInterval",
    "HlogWriter",
    "hlog_path",
    "read_hlog",
    "write_hlog",
]

#: The run folder's subfolder of the logs.
HLOG_DIR = "hlog"
#: The subfolder (under each metric) of the per-class logs.
BY_CLASS = "by-class"
#: Interval_Max is written in ms: the values are us (HdrHistogram's default ratio assumes ns).
_MAX_VALUE_UNIT_RATIO = 1000.0
_UNITS_COMMENT = "[values in microseconds; Interval_Max in milliseconds; written by stress]"


def hlog_path(folder: Path, metric: str, op: str, user_class: str | None = None) -> Path:
    """The log of ``metric`` for ``op``: every class's (``user_class`` None) or one class's."""
    if user_class is None:
        return folder / metric / f"{op}.hlog"
    return folder / metric / BY_CLASS / user_class / f"{op}.hlog"


class HlogWriter:
    """Collects the histograms of the open interval and appends one line per log at its close.

    :meth:`add` and :meth:`close_interval` are called by the
    :class:`~stress.observe.stats.StatsAggregator` (under its lock, from the coordinator's
    thread), so interval bounds are exactly the summary timeline's.
    """

    def __init__(self, folder: Path, start_epoch_s: float | None = None) -> None:
        self.folder = folder
        #: When the run started, seconds since the epoch (the logs' BaseTime). Unset, it is
        #: read at the first close: the wall clock less the interval's end (the run's clock
        #: starts only once every worker is ready, which the caller cannot know beforehand).
        self.start_epoch_s = start_epoch_s
        self._open: dict[Path, Any] = {}
        self._started: set[Path] = set()
        #: Why the logs stopped (the first failed write), or None while they are whole.
        self.error: str | None = None

    def add(self, histograms: Mapping[HistKey, Any]) -> None:
        """Add decoded histograms (us) of one worker report to the open interval."""
        for (metric, user_class, op), hist in histograms.items():
            for path in (
                hlog_path(self.folder, metric, op),
                hlog_path(self.folder, metric, op, user_class),
            ):
                self._open.setdefault(path, new_histogram()).add(hist)

    def close_interval(self, start_s: float, end_s: float) -> None:
        """Append the open interval (``start_s`` to ``end_s``, seconds into the run)."""
        pending, self._open = self._open, {}
        if self.start_epoch_s is None:
            self.start_epoch_s = time.time() - end_s
        if self.error is not None:
            return
        for path in sorted(pending):
            hist = pending[path]
            if hist.get_total_count() == 0:
                continue
            try:
                self._append(path, hist, start_s, end_s)
            except OSError as exc:
                self.error = f"{path}: {exc}"
                return

    def _append(self, path: Path, hist: Any, start_s: float, end_s: float) -> None:
        new = path not in self._started
        if new:
            path.parent.mkdir(parents=True, exist_ok=True)
        # The writer falls back on the histogram's own stamps (ms) for a start of 0.0.
        hist.set_start_time_stamp(start_s * 1000.0)
        hist.set_end_time_stamp(end_s * 1000.0)
        text = io.StringIO()
        writer = HistogramLogWriter(text)
        if new:
            self._header(writer)
        writer.output_interval_histogram(
            hist, start_s, end_s, max_value_unit_ratio=_MAX_VALUE_UNIT_RATIO
        )
        _append_whole(path, text.getvalue().encode("utf-8"), truncate=new)
        self._started.add(path)

    def _header(self, writer: HistogramLogWriter) -> None:
        assert self.start_epoch_s is not None  # set by the first close_interval
        _write_header(writer, self.start_epoch_s)


def _write_header(writer: HistogramLogWriter, start_epoch_s: float) -> None:
    writer.output_log_format_version()
    writer.output_comment(_UNITS_COMMENT)
    # The package's output_start_time is broken (it calls a missing datetime method), so
    # the StartTime line is written as a comment in the exact form its reader parses.
    when = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(start_epoch_s))
    writer.output_comment(f"[StartTime: {start_epoch_s:f} (seconds since epoch), {when}]")
    writer.output_base_time(start_epoch_s * 1000.0)
    writer.output_legend()


def write_hlog(path: Path, histograms: Mapping[str, Any], start_s: float, end_s: float) -> None:
    """One interval (``start_s`` to ``end_s``, seconds into the run) as one file, a line per
    op tagged with its name (``Tag=single_insert``): a soak's epoch in one log.

    Written whole to a temporary name and renamed, so a kill leaves the file whole or absent.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = HistogramLogWriter(text)
    _write_header(writer, time.time() - end_s)
    for tag, hist in sorted(histograms.items()):
        hist.set_tag(tag)
        hist.set_start_time_stamp(start_s * 1000.0)
        hist.set_end_time_stamp(end_s * 1000.0)
        writer.output_interval_histogram(
            hist, start_s, end_s, max_value_unit_ratio=_MAX_VALUE_UNIT_RATIO
        )
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text.getvalue(), encoding="utf-8")
    os.replace(temp, path)


def _append_whole(path: Path, data: bytes, truncate: bool) -> None:
    """Append ``data`` whole, or leave the file as it was (a full disk never tears a line)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND)
    fd = os.open(path, flags, 0o666)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


@dataclass(frozen=True)
class HlogInterval:
    """One line of a log: its bounds (seconds into the run) and histogram (us)."""

    start_s: float
    end_s: float
    histogram: Any


def read_hlog(path: Path) -> Iterator[HlogInterval]:
    """Every interval of a log, read with the ``hdrhistogram`` package's own reader."""
    reader = HistogramLogReader(str(path), new_histogram())
    try:
        while (hist := reader.get_next_interval_histogram()) is not None:
            # The reader stamps each histogram in absolute ms (BaseTime + the line's start).
            base = reader.base_time_sec
            yield HlogInterval(
                round(hist.get_start_time_stamp() / 1000.0 - base, 6),
                round(hist.get_end_time_stamp() / 1000.0 - base, 6),
                hist,
            )
    finally:
        reader.close()

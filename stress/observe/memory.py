"""Heap upkeep of a run's processes: few malloc arenas, and freed heap handed back to the OS.

Where a thread-mode run's resident memory went (``STRESS_USERS=inserter=6``, batches of 50 to
200 rows, 90 s; read from ``/proc/PID/smaps_rollup``, glibc's ``mallinfo2`` and
``sqlite3_memory_used``): mapped files stayed near 32-39 MB (libraries, and one 1.4 MB ledger
window per user), SQLite's own memory under 25 MB, and glibc's arenas grew to 90 MB of which
only 17-35 MB was in use. The rest was freed memory glibc kept: each thread allocates from an
arena of its own (up to eight per core), each arena keeps its high-water mark, and the
transient peaks (a snapshot copy, a batch of rows) grow with the database. Python objects came
to 33 MB at the end, flat: code and modules 17 MB, the HdrHistograms 5.5 MB (one per class
and op, not per op); no payload batch outlived its op.

Two remedies, both glibc-only and no-ops elsewhere:

- :func:`limit_arenas` caps the arenas at one per usable core. SQLite is the only code of the
  run that allocates outside the GIL, so more arenas buy no parallelism, only retained memory.
  It applies to arenas created after the call: call it before the user threads start.
- :class:`HeapTrimmer` calls ``malloc_trim(0)`` at most once per interval, which returns the
  free pages inside every arena (not only at its top) to the OS. One trim took 0.4 to 12 ms on
  the run above; every 2 s that is at most 0.6% of one core.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from stress.clock import Clock, SystemClock

__all__ = [
    "TRIM_INTERVAL_S",
    "HeapTrimmer",
    "format_peak_memory",
    "limit_arenas",
    "malloc_trim",
    "peak_rss_bytes",
    "reset_peak_rss",
]

#: Seconds between two heap trims of one process.
TRIM_INTERVAL_S = 2.0
#: ``M_ARENA_MAX`` of glibc's ``<malloc.h>``.
_M_ARENA_MAX = -8
_KIB = 1024


@cache
def _libc() -> ctypes.CDLL | None:
    """glibc, if this process runs on it (it has ``malloc_trim`` and ``mallopt``)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None  # musl, macOS: their allocators hand memory back on their own terms
    return libc


def limit_arenas(arenas: int | None = None) -> bool:
    """Cap glibc's malloc arenas (default: one per usable core); False where there is no glibc."""
    libc = _libc()
    if libc is None:
        return False
    count = arenas if arenas is not None else max(1, len(os.sched_getaffinity(0)))
    return bool(libc.mallopt(_M_ARENA_MAX, count))


def malloc_trim() -> bool:
    """Return the free pages of every malloc arena to the OS; False where there is no glibc."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class HeapTrimmer:
    """Trims the heap when :meth:`tick` is called, at most once per ``interval_s`` of ``clock``.

    The first tick trims: a process that just started has its start-up garbage to hand back.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        interval_s: float = TRIM_INTERVAL_S,
        trim: Callable[[], bool] = malloc_trim,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s={interval_s} must be positive")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._interval_s = interval_s
        self._trim = trim
        self._last: float | None = None
        #: Trims done so far.
        self.trims = 0

    def tick(self) -> bool:
        """Trim if the interval has passed since the last trim; returns whether it trimmed."""
        now = self._clock.now()
        if self._last is not None and now - self._last < self._interval_s:
            return False
        self._last = now
        if self._trim():
            self.trims += 1
            return True
        return False


def peak_rss_bytes(pid: int) -> int | None:
    """The kernel's high-water mark of ``pid``'s resident memory (``VmHWM``), or None.

    Exact where sampling is not: a peak between two samples of the monitor still counts.
    None off Linux, or once the process is gone.
    """
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * _KIB
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Restart this process's ``VmHWM`` from its current resident memory (Linux >= 4.0).

    The coordinator does this as its run starts, so its peak is the run's, not that of
    whatever ran in the process before (a test session, an earlier run of a notebook).
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def format_peak_memory(resources: Mapping[str, Any]) -> str:
    """``peak memory  231.4 MB in all (sampled); own peaks: coordinator 120.2, worker-0 61.3 MB``.

    ``resources`` is the summary's ``resources`` section. The total is the largest sum of one
    sample (what ``STRESS_MAX_MEMORY_MB`` limits); each process's figure is its own peak from
    the kernel, between samples too, so they need not add up to it, and one may exceed it:
    the line names the two measures apart.
    """
    by_process: Mapping[str, float] = resources.get("peak_rss_mb_by_process", {})
    parts = ", ".join(f"{label} {mb:,.1f}" for label, mb in _ordered(by_process))
    line = f"peak memory  {resources.get('peak_memory_mb', 0.0):,.1f} MB in all (sampled)"
    return f"{line}; own peaks: {parts} MB" if parts else line


def _ordered(by_process: Mapping[str, float]) -> list[tuple[str, float]]:
    """The coordinator, workers by number, then helpers."""

    def key(label: str) -> tuple[int, int, str]:
        if label.startswith("worker-") and label[7:].isdigit():
            return (1, int(label[7:]), label)
        return (0 if label == "coordinator" else 2, 0, label)

    return [(label, by_process[label]) for label in sorted(by_process, key=key)]

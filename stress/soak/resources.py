"""Samples of each process of the soak (memory, open files, threads) and of each database.

Every process is one line of samples per lifetime: a worker killed by a fault and started
again is a new segment (its pid changes), so a slope is fitted within segments
(:func:`stress.soak.slopes.pooled_slope`). The first :data:`PROCESS_WARMUP_S` of a process's
life (imports, first connections, caches filling) are left out of its segment, a lifetime
with fewer than :data:`SEGMENT_MIN_POINTS` samples after it is left out, and a process with
fewer than :data:`SLOPE_MIN_POINTS` in all has no slope (not measured, rather than a guess).
"""

from __future__ import annotations

import contextlib
import csv
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stress.artifacts import DatabasePlace
from stress.soak.slopes import Slope, pooled_slope

__all__ = [
    "PROCESS_WARMUP_S",
    "SEGMENT_MIN_POINTS",
    "SLOPE_MIN_POINTS",
    "ProcessSample",
    "ResourceLog",
]

#: Seconds of a process's life left out of its slopes. Measured (``soak/samples.csv`` of a
#: soak on 2 loaded cores): a worker's RSS climbs from ~20 MB to its working size over its
#: first 20-25 s (imports, user threads, first batches) and open files from 10 to ~40, so a
#: shorter warm-up fits that climb and calls it a leak.
PROCESS_WARMUP_S = 30.0
#: Fewest samples past its warm-up a lifetime needs to count (20 s at one a second): a shorter
#: one is mostly the end of the climb.
SEGMENT_MIN_POINTS = 20
#: Fewest samples in all for a slope per process; fewer (a short soak) is "not measured".
SLOPE_MIN_POINTS = 60
_MB = 2**20
METRICS = ("rss_mb", "open_files", "threads")


@dataclass(frozen=True)
class ProcessSample:
    t_s: float
    label: str
    pid: int
    rss_mb: float
    open_files: int
    threads: int


@dataclass
class ResourceLog:
    """Every sample of the soak's processes, and each database's WAL high-water mark."""

    places: tuple[DatabasePlace, ...]
    samples: list[ProcessSample] = field(default_factory=list)
    #: pid -> when it was first seen (s), for the per-process warm-up.
    born: dict[int, float] = field(default_factory=dict)
    wal_high_mb: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sample(self, t_s: float, workers: Mapping[int, int]) -> None:
        pids = {"coordinator": os.getpid()} | {f"worker-{i}": p for i, p in workers.items()}
        for label, pid in pids.items():
            try:
                process = psutil.Process(pid)
                with process.oneshot():
                    rss = process.memory_info().rss / _MB
                    files, threads = process.num_fds(), process.num_threads()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue  # killed by a fault between the listing and the reading
            if rss <= 0:
                continue  # a process being reaped reads as 0 MB: not a sample of its life
            self.born.setdefault(pid, t_s)
            self.samples.append(ProcessSample(t_s, label, pid, rss, files, threads))
        for place in self.places:
            wal = place.path.with_name(place.path.name + "-wal")
            with contextlib.suppress(FileNotFoundError), self._lock:
                self.wal_high_mb = max(self.wal_high_mb, wal.stat().st_size / _MB)

    def take_wal_high(self) -> float:
        """The WAL high-water mark since the last call, MB (one per epoch)."""
        with self._lock:
            high, self.wal_high_mb = self.wal_high_mb, 0.0
        return high

    def write_csv(self, path: Path) -> None:
        """Every sample, one line each (what the slopes were fitted on), for people and plots."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["t_s", "process", "pid", "age_s", "rss_mb", "open_files", "threads"])
            for s in list(self.samples):
                age = f"{s.t_s - self.born[s.pid]:.2f}"
                rss = f"{s.rss_mb:.3f}"
                writer.writerow([f"{s.t_s:.2f}", s.label, s.pid, age, rss, s.open_files, s.threads])

    @classmethod
    def read_csv(cls, path: Path) -> ResourceLog:
        """The samples :meth:`write_csv` wrote (no database places: the WAL is not re-read).

        Raises ``ValueError`` (or ``KeyError`` for a missing column) on a malformed file.
        """
        log = cls(())
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                t_s, pid = float(row["t_s"]), int(row["pid"])
                files, threads = int(row["open_files"]), int(row["threads"])
                sample = ProcessSample(
                    t_s, row["process"], pid, float(row["rss_mb"]), files, threads
                )
                log.samples.append(sample)
                log.born.setdefault(pid, t_s - float(row["age_s"]))
        return log

    def slopes(self, since_s: float, value: Callable[[ProcessSample], float]) -> dict[str, Slope]:
        """Per process label, the slope of ``value`` from ``since_s`` on, within lifetimes."""
        found = {}
        for label, lives in self.lifetimes(since_s, value).items():
            fitted = pooled_slope(lives)
            if fitted is not None:
                found[label] = fitted
        return found

    def lifetimes(
        self, since_s: float, value: Callable[[ProcessSample], float]
    ) -> dict[str, list[list[tuple[float, float]]]]:
        """Per process label with enough samples, the (s, value) points of each lifetime that
        a slope is fitted on: from ``since_s`` on, past each process's warm-up."""
        segments: dict[str, dict[int, list[tuple[float, float]]]] = defaultdict(dict)
        for sample in self.samples:
            if sample.t_s < since_s or sample.t_s - self.born[sample.pid] < PROCESS_WARMUP_S:
                continue
            segments[sample.label].setdefault(sample.pid, []).append((sample.t_s, value(sample)))
        found = {}
        for label, by_pid in sorted(segments.items()):
            lives = [points for points in by_pid.values() if len(points) >= SEGMENT_MIN_POINTS]
            if sum(len(points) for points in lives) >= SLOPE_MIN_POINTS:
                found[label] = lives
        return found

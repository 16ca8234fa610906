"""The resource monitor: a thread of the coordinator that samples the run and applies limits.

Every ``STRESS_MONITOR_INTERVAL_MS`` (250 ms by default) it takes one :class:`ResourceSample`:

- resident memory (RSS) of the coordinator, of every worker process, and of the helper
  processes of the tree (the forkserver); the sum is what ``STRESS_MAX_MEMORY_MB`` limits. RSS
  counts a page shared by two processes twice, so the sum is an upper bound. Each process's
  kernel high-water mark (``VmHWM``) is read too, so its peak counts even between samples;
- CPU of the whole process tree since the previous sample, in **percent of one core**: 100 is
  one core fully busy, four busy cores read 400 (``psutil``'s convention, and the unit of
  ``STRESS_MAX_CPU_PERCENT``);
- the system's 1-minute load average;
- disk used by every database file with its ``-wal`` and ``-shm`` and every spool file, and
  the ``-wal`` file of each database on its own.

Each sample goes to :class:`~stress.observe.backpressure.Backpressure` (the flags and their log), to
the peaks, and to a timeline that stays bounded however long the run: past the cap, adjacent
pairs of entries merge into one that keeps the larger of each value. After each sample the
coordinator's heap is trimmed when its interval has passed (see :mod:`stress.observe.memory`).

The sampler and the clock are injected: tests feed :meth:`Monitor.observe` made-up samples
at made-up times and never start the thread.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import psutil

from stress.artifacts import DatabasePlace
from stress.clock import Clock, SystemClock
from stress.config import Settings
from stress.controls import Controls
from stress.metadb import database_files, spool_files
from stress.observe.backpressure import DISK, Backpressure, Limits
from stress.observe.memory import HeapTrimmer, limit_arenas, peak_rss_bytes, reset_peak_rss
from stress.outcomes import StopReason
from stress.summary import (
    RESOURCE_TIMELINE_CAP,
    BackpressureCause,
    BackpressureSection,
    ResourceFigures,
    ResourcesSection,
    ResourceTimelineEntry,
)

__all__ = [
    "COORDINATOR",
    "HELPERS",
    "TIMELINE_CAP",
    "Monitor",
    "MonitorCost",
    "PsutilSampler",
    "ResourceSample",
    "ResourceTimeline",
    "Sampler",
    "disk_usage",
    "monitor_for_run",
]

#: Process labels in ``rss_bytes`` besides ``worker-<idx>``.
COORDINATOR = "coordinator"
HELPERS = "helpers"
#: Most entries in the resource timeline (the summary's cap).
TIMELINE_CAP = RESOURCE_TIMELINE_CAP
#: Samples between two scans of the process tree for helper processes (a scan reads every
#: process of the machine, the dearest part of a sample); workers are known by their pids.
_RESCAN_EVERY = 16
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """One look at the run's resources."""

    rss_bytes: Mapping[str, int]
    """Resident memory by process label (``coordinator``, ``worker-0``, ..., ``helpers``)."""
    cpu_percent: float | None
    """CPU of the process tree since the previous sample, 100 = one core; None at first."""
    load_1m: float
    """The system's 1-minute load average."""
    disk_bytes: int
    """Database files with their -wal, -shm and -tshm, and spool files, together."""
    wal_bytes: tuple[int, ...]
    """Size of each database's -wal file, by database index."""
    peak_rss_bytes: Mapping[str, int] = field(default_factory=dict)
    """The kernel's high-water mark of resident memory by process label, where known."""

    @property
    def rss_total_mb(self) -> float:
        return sum(self.rss_bytes.values()) / _MB

    def limited_values(self) -> dict[str, float | None]:
        """The values the limits apply to, by cause, in the limits' units."""
        return {
            "memory": self.rss_total_mb,
            "cpu": self.cpu_percent,
            "wal": max(self.wal_bytes, default=0) / _MB,
            DISK: self.disk_bytes / _MB,
        }


class Sampler(Protocol):
    def sample(self) -> ResourceSample: ...


def _size(path: os.PathLike[str] | str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:  # a -wal file comes and goes with connections
        return 0


def disk_usage(places: Iterable[DatabasePlace]) -> tuple[int, tuple[int, ...]]:
    """``(bytes of every database file, -wal, -shm and spool file; -wal bytes per database)``."""
    total = 0
    wal: list[int] = []
    for place in places:
        main = str(place.path)
        wal.append(_size(main + "-wal"))
        # The file and every sidecar (-wal, -shm, turso's -tshm): all of it is the store's disk.
        total += sum(_size(file) for file in database_files(place.path))
        total += sum(_size(path) for path in spool_files(place.home))
    return total, tuple(wal)


class PsutilSampler:
    """Samples the real process tree with psutil.

    ``workers()`` gives the pid of each live worker process by index. CPU is each process's
    user + system time between two of its readings, over the ``clock`` time between them,
    each reading timed right after it is taken: the sampler is a thread of a busy process,
    and a pause for the GIL between a timestamp and the reads it stands for once made two
    cores read as 547%. The sum is capped at ``100 x cores``; only the kernel's clock-tick
    granularity (10 ms a process) can still push it past that.
    """

    def __init__(
        self,
        places: tuple[DatabasePlace, ...],
        workers: Callable[[], Mapping[int, int]],
        clock: Clock,
    ) -> None:
        self._places = places
        self._workers = workers
        self._clock = clock
        self._me = psutil.Process()
        self._known: dict[int, psutil.Process] = {}
        self._helpers: list[int] = []
        #: pid -> (clock time, CPU seconds) of its last reading.
        self._cpu_before: dict[int, tuple[float, float]] = {}
        self._ceiling = 100.0 * (psutil.cpu_count() or 1)
        self._count = 0

    def sample(self) -> ResourceSample:
        rss: dict[str, int] = {}
        peaks: dict[str, int] = {}
        cpu_now: dict[int, tuple[float, float]] = {}
        for label, pid in self._tree():
            try:
                # The same Process object each time: psutil checks it is still that process.
                process = self._known.get(pid) or self._known.setdefault(pid, psutil.Process(pid))
                with process.oneshot():
                    memory, times = process.memory_info().rss, process.cpu_times()
            except psutil.Error:  # ended since it was listed
                self._known.pop(pid, None)
                continue
            cpu_now[pid] = (self._clock.now(), times.user + times.system)
            rss[label] = rss.get(label, 0) + memory
            peaks[label] = peaks.get(label, 0) + (peak_rss_bytes(pid) or memory)
        cpu = self._cpu_percent(cpu_now)
        disk, wal = disk_usage(self._places)
        return ResourceSample(rss, cpu, os.getloadavg()[0], disk, wal, peaks)

    def _tree(self) -> list[tuple[str, int]]:
        workers = self._workers()
        if self._count % _RESCAN_EVERY == 0:
            worker_pids = set(workers.values())
            try:
                children = self._me.children(recursive=True)
            except psutil.Error:
                children = []
            self._helpers = [c.pid for c in children if c.pid not in worker_pids]
        self._count += 1
        tree = [(COORDINATOR, self._me.pid)]
        tree += [(f"worker-{idx}", pid) for idx, pid in sorted(workers.items())]
        tree += [(HELPERS, pid) for pid in self._helpers]
        return tree

    def _cpu_percent(self, cpu_now: dict[int, tuple[float, float]]) -> float | None:
        """Percent of one core used by the tree since each process's last reading.

        A process seen for the first time (a worker just restarted, a helper just found) only
        sets its baseline: its CPU before now belongs to no interval of ours.
        """
        rate, measured = 0.0, False
        for pid, (t, cpu_s) in cpu_now.items():
            before = self._cpu_before.get(pid)
            if before is not None and t > before[0]:
                rate += max(cpu_s - before[1], 0.0) / (t - before[0])
                measured = True
        self._cpu_before = cpu_now
        for pid in set(self._known) - set(cpu_now):
            del self._known[pid]
        return min(rate * 100.0, self._ceiling) if measured else None


class ResourceTimeline:
    """Samples, bounded: past ``cap`` entries, adjacent pairs merge keeping each maximum."""

    def __init__(self, cap: int = TIMELINE_CAP) -> None:
        if cap < 2:
            raise ValueError(f"cap={cap} must be at least 2 to merge pairs")
        self._cap = cap
        self.entries: list[ResourceTimelineEntry] = []

    def add(self, t_s: float, sample: ResourceSample, active: list[BackpressureCause]) -> None:
        values = sample.limited_values()
        self.entries.append(
            {
                "t_s": round(t_s, 3),
                "samples": 1,
                "rss_mb": round(sample.rss_total_mb, 1),
                "cpu_percent": round(sample.cpu_percent or 0.0, 1),
                "load_1m": round(sample.load_1m, 2),
                "disk_mb": round(float(values[DISK] or 0.0), 3),
                "wal_mb": round(float(values["wal"] or 0.0), 3),
                "backpressure": list(active),
            }
        )
        if len(self.entries) > self._cap:
            pairs = zip(self.entries[0::2], self.entries[1::2], strict=False)
            merged = [_merge(first, second) for first, second in pairs]
            if len(self.entries) % 2:
                merged.append(self.entries[-1])
            self.entries = merged


def _merge(first: ResourceTimelineEntry, second: ResourceTimelineEntry) -> ResourceTimelineEntry:
    """One entry for two adjacent ones: the later time, each value's maximum."""
    return {
        "t_s": max(first["t_s"], second["t_s"]),
        "samples": first["samples"] + second["samples"],
        "rss_mb": max(first["rss_mb"], second["rss_mb"]),
        "cpu_percent": max(first["cpu_percent"], second["cpu_percent"]),
        "load_1m": max(first["load_1m"], second["load_1m"]),
        "disk_mb": max(first["disk_mb"], second["disk_mb"]),
        "wal_mb": max(first["wal_mb"], second["wal_mb"]),
        "backpressure": sorted(set(first["backpressure"]) | set(second["backpressure"])),
    }


@dataclass(frozen=True)
class MonitorCost:
    """What the monitor itself cost."""

    samples: int
    #: CPU time of the monitor thread, in seconds.
    cpu_s: float
    #: Wall time the monitor ran, in seconds.
    wall_s: float
    #: Mean and largest wall time of one sample (sampling + limits + timeline), in ms.
    mean_sample_ms: float
    max_sample_ms: float

    @property
    def cpu_share(self) -> float:
        """Monitor CPU seconds per wall second (0.01 = 1% of one core)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


class Monitor:
    """Samples, limits and records; :meth:`start` runs it as a thread every ``interval_s``."""

    def __init__(
        self,
        sampler: Sampler,
        backpressure: Backpressure,
        clock: Clock,
        interval_s: float,
        timeline_cap: int = TIMELINE_CAP,
        trimmer: HeapTrimmer | None = None,
    ) -> None:
        self.sampler = sampler
        self.trimmer = trimmer
        self.backpressure = backpressure
        self.clock = clock
        self.interval_s = interval_s
        self.timeline = ResourceTimeline(timeline_cap)
        self.error: str | None = None
        self._started = clock.now()
        self._peaks: dict[str, float] = {"rss_mb": 0.0, "cpu": 0.0, "load": 0.0, "disk_mb": 0.0}
        self._peak_rss_by_process: dict[str, float] = {}
        self._peak_wal_mb: list[float] = []
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._cost = [0, 0.0, 0.0, 0.0]  # samples, thread CPU s, sum and max of sample wall s
        self._wall = (0.0, 0.0)  # thread start and end, perf_counter seconds

    def observe(self, sample: ResourceSample) -> None:
        """Take one sample into account, at the clock's current time; then trim if due."""
        t_s = self.clock.now() - self._started
        self.backpressure.observe(t_s, sample.limited_values())
        self.timeline.add(t_s, sample, self.backpressure.active())
        peaks = self._peaks
        peaks["rss_mb"] = max(peaks["rss_mb"], sample.rss_total_mb)
        peaks["cpu"] = max(peaks["cpu"], sample.cpu_percent or 0.0)
        peaks["load"] = max(peaks["load"], sample.load_1m)
        peaks["disk_mb"] = max(peaks["disk_mb"], sample.disk_bytes / _MB)
        for label, rss in sample.rss_bytes.items():
            previous = self._peak_rss_by_process.get(label, 0.0)
            high_water = sample.peak_rss_bytes.get(label, 0)
            self._peak_rss_by_process[label] = max(previous, rss / _MB, high_water / _MB)
        if len(self._peak_wal_mb) < len(sample.wal_bytes):
            self._peak_wal_mb += [0.0] * (len(sample.wal_bytes) - len(self._peak_wal_mb))
        for index, wal in enumerate(sample.wal_bytes):
            self._peak_wal_mb[index] = max(self._peak_wal_mb[index], wal / _MB)
        if self.trimmer is not None:
            self.trimmer.tick()

    def check(self, elapsed_s: float) -> StopReason | None:
        """The coordinator's per-turn hook: a stop reason, or None to go on."""
        if self.error is not None:
            return StopReason.HARNESS
        if self.backpressure.disk_is_full(elapsed_s) or self.backpressure.stalled:
            return StopReason.RESOURCE
        return None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stress-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()

    @contextmanager
    def running(self) -> Iterator[Monitor]:
        """The monitor's thread runs for the ``with`` block."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def _run(self) -> None:
        started_wall, started_cpu = time.perf_counter(), time.thread_time()
        try:
            while True:
                self._sample_once()
                if self._halt.wait(self.interval_s):
                    break
            # One last look, so the figures include the run's final state (its disk use).
            self._sample_once()
        except Exception:
            # A monitor that died would leave the machine unprotected: the run must stop.
            self.error = traceback.format_exc()
        self._cost[1] = time.thread_time() - started_cpu
        self._wall = (started_wall, time.perf_counter())

    def _sample_once(self) -> None:
        began = time.perf_counter()
        self.observe(self.sampler.sample())
        took = time.perf_counter() - began
        self._cost[0] += 1
        self._cost[2] += took
        self._cost[3] = max(self._cost[3], took)

    def cost(self) -> MonitorCost:
        """The monitor thread's own cost (complete once :meth:`stop` returned)."""
        samples, cpu_s, total_s, max_s = self._cost
        return MonitorCost(
            int(samples),
            cpu_s,
            self._wall[1] - self._wall[0],
            1000 * total_s / samples if samples else 0.0,
            1000 * max_s,
        )

    def figures(self) -> ResourceFigures:
        """The ancestor's resource figures for ``results``."""
        peaks = self._peaks
        return {
            "peak_memory_mb": round(peaks["rss_mb"], 1),
            "peak_cpu_percent": round(peaks["cpu"], 1),
            "peak_load": round(peaks["load"], 2),
            "disk_used_mb": round(peaks["disk_mb"], 3),
        }

    def resources_section(self) -> ResourcesSection:
        """The summary's ``resources`` section."""
        cost = self.cost()
        return {
            "interval_ms": round(self.interval_s * 1000, 3),
            "cpu_unit": "percent of one core (100 = one core)",
            **self.figures(),
            "peak_rss_mb_by_process": {
                label: round(mb, 1) for label, mb in sorted(self._peak_rss_by_process.items())
            },
            "peak_wal_mb_by_database": [round(mb, 3) for mb in self._peak_wal_mb],
            "heap_trims": self.trimmer.trims if self.trimmer is not None else 0,
            "monitor": {
                "samples": cost.samples,
                "cpu_s": round(cost.cpu_s, 4),
                "cpu_share": round(cost.cpu_share, 5),
                "mean_sample_ms": round(cost.mean_sample_ms, 3),
                "max_sample_ms": round(cost.max_sample_ms, 3),
            },
            "timeline": self.timeline.entries,
        }

    def backpressure_section(self) -> BackpressureSection:
        """The summary's ``backpressure`` section."""
        return self.backpressure.report(self.clock.now() - self._started)


def monitor_for_run(
    settings: Settings,
    places: tuple[DatabasePlace, ...],
    controls: Controls,
    pids: Callable[[], Mapping[int, int]],
) -> Monitor:
    """The monitor of a real run: psutil over the processes ``pids`` names, the run's limits."""
    clock = SystemClock()
    limits = Limits(
        memory_mb=settings.max_memory_mb,
        cpu_percent=settings.cpu_budget_percent(),
        wal_mb=settings.max_wal_mb,
        disk_mb=settings.max_disk_mb,
        max_stall_s=settings.max_stall_s,
    )
    backpressure = Backpressure(limits, controls.pause, controls.disk_over, controls.disk_full)
    sampler = PsutilSampler(places, pids, clock)
    # Before the users' threads start: arenas made later obey the cap, and the coordinator's
    # peak is this run's.
    limit_arenas()
    reset_peak_rss()
    interval_s = settings.monitor_interval_ms / 1000
    return Monitor(sampler, backpressure, clock, interval_s, trimmer=HeapTrimmer(clock))

"""Resource figures of a run: peaks of memory, CPU and load, and the disk budget.

Sampled from the coordinator's loop at most every ``interval_s``. Disk counts every meta.db
file with its ``-wal`` and ``-shm`` and every spool file; past ``max_disk_mb`` the shared
flag turns users' writes into reads (each substitution is recorded for replay).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from stress.users import Flag
from stress.worker import DatabasePlace

__all__ = ["ResourceWatch", "disk_used_bytes"]


def disk_used_bytes(places: Iterable[DatabasePlace]) -> int:
    """Bytes of every database file, its WAL and shared memory, and its spool files."""
    total = 0
    for place in places:
        for suffix in ("", "-wal", "-shm"):
            path = place.path.with_name(place.path.name + suffix)
            total += path.stat().st_size if path.exists() else 0
        logs = place.home / "logs"
        if logs.is_dir():
            total += sum(entry.stat().st_size for entry in os.scandir(logs) if entry.is_file())
    return total


class ResourceWatch:
    """Peaks of the process tree and the disk-budget flag."""

    def __init__(
        self,
        places: tuple[DatabasePlace, ...],
        max_disk_mb: float,
        disk_over: Flag,
        interval_s: float = 0.25,
    ) -> None:
        self._places = places
        self._max_disk_bytes = max_disk_mb * 1024 * 1024
        self._disk_over = disk_over
        self._interval_s = interval_s
        self._next = 0.0
        self._process = psutil.Process()
        self._cpu_seen: dict[int, psutil.Process] = {}
        self.peak_memory_mb = 0.0
        self.peak_cpu_percent = 0.0
        self.peak_load = 0.0
        self.disk_used_mb = 0.0

    def tick(self, _pool: object) -> Callable[[float], str | None]:
        """The coordinator's per-turn hook."""

        def on_tick(elapsed_s: float) -> str | None:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + self._interval_s
                self.sample()
            return None

        return on_tick

    def sample(self) -> None:
        used = disk_used_bytes(self._places)
        self.disk_used_mb = max(self.disk_used_mb, used / 2**20)
        if used > self._max_disk_bytes:
            self._disk_over.set()
        tree = [self._process, *self._process.children(recursive=True)]
        rss = 0
        cpu = 0.0
        for proc in tree:
            try:
                rss += proc.memory_info().rss
                # cpu_percent needs the same Process object across calls to measure a delta.
                cpu += self._cpu_seen.setdefault(proc.pid, proc).cpu_percent(None)
            except psutil.Error:
                continue
        self.peak_memory_mb = max(self.peak_memory_mb, rss / 2**20)
        self.peak_cpu_percent = max(self.peak_cpu_percent, cpu)
        self.peak_load = max(self.peak_load, os.getloadavg()[0])

    def figures(self) -> dict[str, Any]:
        self.sample()
        return {
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "peak_cpu_percent": round(self.peak_cpu_percent, 1),
            "peak_load": round(self.peak_load, 2),
            "disk_used_mb": round(self.disk_used_mb, 3),
        }

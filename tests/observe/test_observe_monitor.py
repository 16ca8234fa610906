"""The psutil sampler and the disk figures, on real processes and files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitor_helpers import FakeClock

from stress.artifacts import DatabasePlace
from stress.observe.monitor import COORDINATOR, PsutilSampler, disk_usage


def _place(folder: Path, index: int, sizes: dict[str, int]) -> DatabasePlace:
    home = folder / f"db-{index}"
    (home / "logs").mkdir(parents=True)
    for name, size in sizes.items():
        (home / name).write_bytes(b"x" * size)
    return DatabasePlace(index, home / "meta.db", home)


def test_disk_counts_database_wal_shm_and_spool_files_and_wal_per_database(
    tmp_path: Path,
) -> None:
    first = _place(
        tmp_path,
        0,
        {
            "meta.db": 1000,
            "meta.db-wal": 300,
            "meta.db-shm": 32,
            "logs/meta-db-errors-2026-01-01.jsonl": 50,
            "unrelated.txt": 9999,
        },
    )
    second = _place(tmp_path, 1, {"meta.db": 10})  # no WAL right now: it comes and goes
    total, wal = disk_usage((first, second))
    assert total == 1000 + 300 + 32 + 50 + 10
    assert wal == (300, 0)


@pytest.fixture
def sleeper() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def test_sampler_labels_coordinator_and_workers_and_measures_cpu_between_samples(
    tmp_path: Path, sleeper: int
) -> None:
    place = _place(tmp_path, 0, {"meta.db": 4096})
    clock = FakeClock()
    sampler = PsutilSampler((place,), lambda: {3: sleeper}, clock)

    first = sampler.sample()
    assert first.cpu_percent is None  # no earlier sample to measure from
    assert first.rss_bytes[COORDINATOR] > 0
    assert first.rss_bytes["worker-3"] > 0
    assert first.disk_bytes == 4096 and first.wal_bytes == (0,)

    sum(range(200_000))  # some CPU of our own between the samples
    clock.advance(1.0)
    second = sampler.sample()
    assert second.cpu_percent is not None and second.cpu_percent >= 0
    assert second.limited_values()["memory"] == second.rss_total_mb
    assert second.load_1m >= 0


def test_a_worker_that_ended_is_left_out_not_an_error(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    place = _place(tmp_path, 0, {})
    sampler = PsutilSampler((place,), lambda: {0: child.pid}, FakeClock())
    assert "worker-0" not in sampler.sample().rss_bytes

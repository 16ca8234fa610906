"""Heap upkeep and per-process peaks: the trimmer's pacing, real glibc trims, VmHWM, output.

The trimmer's pacing is checked with a fake clock; the effects (memory handed back, the
kernel's high-water mark reset) on this very process, with real allocations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from monitor_helpers import FakeClock, sample

from stress.observe.backpressure import Backpressure, Limits
from stress.observe.memory import (
    HeapTrimmer,
    _libc,
    format_peak_memory,
    limit_arenas,
    malloc_trim,
    peak_rss_bytes,
    reset_peak_rss,
)
from stress.observe.monitor import Monitor, ResourceSample

MB = 1024 * 1024
needs_glibc = pytest.mark.skipif(_libc() is None, reason="malloc_trim and mallopt are glibc's")
needs_proc = pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="VmHWM is read from Linux's /proc"
)


def _backpressure() -> Backpressure:
    limits = Limits(1000, 90, 64, 500, max_stall_s=10)
    return Backpressure(limits, threading.Event(), threading.Event())


class _NoSampler:
    def sample(self) -> ResourceSample:
        raise AssertionError("the tests feed samples to observe()")


class _CountingTrim:
    def __init__(self, works: bool = True) -> None:
        self.calls = 0
        self.works = works

    def __call__(self) -> bool:
        self.calls += 1
        return self.works


def test_the_trimmer_trims_at_first_then_at_most_once_per_interval() -> None:
    clock, trim = FakeClock(), _CountingTrim()
    trimmer = HeapTrimmer(clock, interval_s=2.0, trim=trim)
    assert trimmer.tick()  # a fresh process has its start-up garbage to hand back
    ticks = []
    for _ in range(16):  # 4 s in quarter seconds
        clock.advance(0.25)
        ticks.append(trimmer.tick())
    assert ticks == [False] * 7 + [True] + [False] * 7 + [True]
    assert trim.calls == trimmer.trims == 3


def test_a_trimmer_without_glibc_counts_no_trims() -> None:
    clock, trim = FakeClock(), _CountingTrim(works=False)
    trimmer = HeapTrimmer(clock, interval_s=1.0, trim=trim)
    assert not trimmer.tick()
    clock.advance(0.5)
    trimmer.tick()  # inside the interval: not even tried
    assert trim.calls == 1 and trimmer.trims == 0


@pytest.mark.parametrize("interval_s", [0.0, -1.0])
def test_the_trim_interval_must_be_positive(interval_s: float) -> None:
    with pytest.raises(ValueError, match=f"interval_s={interval_s} must be positive"):
        HeapTrimmer(FakeClock(), interval_s=interval_s)


def test_the_monitor_trims_after_its_samples_and_reports_the_count() -> None:
    clock, trim = FakeClock(), _CountingTrim()
    trimmer = HeapTrimmer(clock, interval_s=1.0, trim=trim)
    monitor = Monitor(_NoSampler(), _backpressure(), clock, interval_s=0.5, trimmer=trimmer)
    for _ in range(3):
        monitor.observe(sample())
        clock.advance(0.5)
    assert trim.calls == 2  # at 0 s and at 1 s
    assert monitor.resources_section()["heap_trims"] == 2


def test_a_processs_peak_is_its_high_water_mark_when_that_is_higher() -> None:
    monitor = Monitor(_NoSampler(), _backpressure(), FakeClock(), interval_s=0.25)
    rss = {"coordinator": 50 * MB, "worker-0": 40 * MB}
    # Between two samples worker-0 reached 90 MB; the samples never saw it.
    monitor.observe(ResourceSample(rss, None, 0.1, 0, (0,), {"worker-0": 90 * MB}))
    monitor.observe(ResourceSample(rss, None, 0.1, 0, (0,)))
    section = monitor.resources_section()
    assert section["peak_rss_mb_by_process"] == {"coordinator": 50.0, "worker-0": 90.0}
    assert section["peak_memory_mb"] == 90.0  # the total stays the sampled sum the limit uses


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


@needs_glibc
def test_malloc_trim_hands_freed_fragmented_heap_back_to_the_os() -> None:
    # 64 MB of 1 KiB blocks (malloc'd, not Python's small-object arenas), then every block
    # but one in 64 freed: the survivors pin the heap's top, so free() alone returns nothing.
    blocks = [bytes(1024 - 33) + bytes([i % 256]) for i in range(64 * 1024)]
    survivors = blocks[::64]
    del blocks
    before = _rss()
    assert malloc_trim()
    released = before - _rss()
    assert released > 32 * MB, f"trim released only {released / MB:.1f} MB"
    assert len(survivors) == 1024


@needs_glibc
def test_arenas_can_be_limited() -> None:
    assert limit_arenas(os.cpu_count() or 1)


@needs_proc
def test_the_high_water_mark_is_read_and_can_be_reset() -> None:
    pid = os.getpid()
    ballast = bytearray(96 * MB)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident
    del ballast
    malloc_trim()
    high = peak_rss_bytes(pid)
    assert high is not None and high >= _rss() + 64 * MB
    if not reset_peak_rss():
        pytest.skip("/proc/self/clear_refs refused (Linux before 4.0, or restricted)")
    after = peak_rss_bytes(pid)
    assert after is not None and after < high - 64 * MB
    assert after >= _rss() - 4 * MB  # it restarts from what is resident now


def test_the_peak_of_a_process_that_is_gone_is_unknown() -> None:
    child = psutil.Popen(["true"])
    child.wait()
    assert peak_rss_bytes(child.pid) is None


def test_the_output_line_names_every_process_in_order() -> None:
    resources = {
        "peak_memory_mb": 231.44,
        "peak_rss_mb_by_process": {
            "helpers": 20.0,
            "worker-10": 5.0,
            "worker-2": 61.25,
            "coordinator": 120.2,
        },
    }
    assert format_peak_memory(resources) == (
        "peak memory  231.4 MB in all (sampled); own peaks: coordinator 120.2, worker-2 61.2, "
        "worker-10 5.0, helpers 20.0 MB"
    )
    assert format_peak_memory({"peak_memory_mb": 1.0}) == "peak memory  1.0 MB in all (sampled)"


#: A run of fixed work (ops per user, not seconds, so a loaded machine does the same work):
#: three query users snapshot and join tables that two inserters grow to 166,000 rows.
_GROWING_RUN = {
    "users": "inserter=2,query=3",
    "databases": "1",
    "batch-min": "1000",
    "batch-max": "3000",
    "think-min-ms": "0",
    "think-max-ms": "1",
    "seed": "7",
    "max-cpu-percent": "100000",
    "max-ops-per-user": "50",
    "log-interval": "5",
}
#: Most the coordinator may grow over that run, in MB. Measured on a 2-core machine: 48 to 53
#: MB now; 143 to 150 MB before snapshots were bounded and the heap trimmed (59 MB with only
#: the snapshot bound).
_GROWTH_BOUND_MB = 90


@pytest.mark.slow
def test_a_run_whose_tables_grow_keeps_its_memory_bounded(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "stress", "run", "--output-dir", str(run_dir)]
    argv += [part for name, value in _GROWING_RUN.items() for part in (f"--{name}", value)]
    env = {name: value for name, value in os.environ.items() if not name.startswith("STRESS_")}
    # Its own process: the coordinator's memory is the run's, not this test session's.
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    resources = json.loads((run_dir / "summary.json").read_text())["resources"]
    start_mb = resources["timeline"][0]["rss_mb"]  # sampled before the users start
    peak_mb = resources["peak_rss_mb_by_process"]["coordinator"]
    assert peak_mb - start_mb < _GROWTH_BOUND_MB, (start_mb, peak_mb)
    if _libc() is not None:
        assert resources["heap_trims"] >= 1

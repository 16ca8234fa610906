"""A worker sees its users end when they do, not at its next report.

A run limited by op counts ends when its users have run their ops; a worker that only looked
at its next report (half the log interval, up to a second) stretched the run by that much, and
its ops/s with it (the overhead bench's 10,000 ops read 0.53 of the plain loop for 0.76).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from stress.controls import Controls
from stress.engine.messages import WorkerMessage
from stress.engine.worker import WorkerSpec, _watch
from stress.metadb import StoreOptions
from stress.observe.stats import StatsRecorder
from stress.plan.workload import PlanLimits

_HOUR = 3600.0


class _Reports:
    def __init__(self) -> None:
        self.sent: list[WorkerMessage] = []

    def put(self, item: WorkerMessage) -> None:
        self.sent.append(item)


def test_the_watch_ends_with_its_users_long_before_the_next_report(tmp_path: Path) -> None:
    spec = WorkerSpec(
        0, 1, (), {}, PlanLimits(1, 1, 0.0, 0.0, 1), StoreOptions(), (), tmp_path, _HOUR
    )
    controls = Controls(threading.Event(), threading.Event(), threading.Event())
    finish = threading.Event()
    user = threading.Thread(target=finish.wait, daemon=True)
    user.start()
    reports = _Reports()
    users: list[tuple[Any, threading.Thread]] = [(None, user)]
    watch = threading.Thread(
        target=_watch, args=(spec, controls, reports, StatsRecorder(), users), daemon=True
    )
    watch.start()
    finish.set()  # the user ends; the next report is an hour away
    watch.join(60.0)
    assert not watch.is_alive(), "the watch waited for its next report, not for its users"
    assert reports.sent == []  # no interval came, and the worker's Done is its caller's
    assert not controls.stop.is_set()

"""Shared test helpers: fake targets and lock holders, run flags.

Not a test module: the tests import it by name (tests/conftest.py's folder is on ``sys.path``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine_helpers import BASE_CONFIG as BASE_RUN

from stress.cli.main import main

#: The shared base run (:data:`engine_helpers.BASE_CONFIG`) as ``stress run`` flags, with a
#: seed and users of its own, progress every 0.5 s and a CPU budget no test machine reaches
#: (a backpressure pause would only slow the faults down).
BASE_FLAGS: dict[str, str] = {
    **{name.replace("_", "-"): str(value) for name, value in BASE_RUN.items()},
    "seed": "5150",
    "users": "inserter=2,mixed=2",
    "log-interval": "0.5",
    "max-cpu-percent": "100000",
}


def cli_run(run_dir: Path, **flags: str) -> tuple[int, str]:
    """``stress run`` with :data:`BASE_FLAGS` and ``flags`` (``busy_timeout_ms=...``)."""
    merged = {**BASE_FLAGS, "output-dir": str(run_dir)}
    merged.update({name.replace("_", "-"): value for name, value in flags.items()})
    argv = ["run"] + [part for name, value in merged.items() for part in (f"--{name}", value)]
    out = io.StringIO()
    return main(argv, out=out), out.getvalue()


def read_json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


class FakeTargets:
    """Workers that die when told to; users whose positions the test sets."""

    def __init__(self, workers: int) -> None:
        self.running = {idx: 1000 + idx for idx in range(workers)}
        self.killed: list[int] = []
        self.users: dict[int, int] = {}

    def positions(self) -> Mapping[int, int]:
        return dict(self.users)

    def kill(self, worker_idx: int) -> int | None:
        pid = self.running.pop(worker_idx, None)
        if pid is not None:
            self.killed.append(worker_idx)
        return pid

    def restart(self, worker_idx: int) -> None:
        self.running[worker_idx] = 2000 + len(self.killed)


class FakeLock:
    """A lock holder that holds until the test says it is done."""

    def __init__(self, path: Path, hold_s: float) -> None:
        self.pid = 4242
        self.path = path
        self.hold_s = hold_s
        self.done = False
        self.stopped = False

    def poll(self) -> str | None:
        return f"held {self.hold_s} s" if self.done else None

    def stop(self) -> str:
        self.stopped = True
        return "stopped at the end"


class FakeLocks:
    """Starts :class:`FakeLock` holders and keeps them for the test to look at."""

    def __init__(self) -> None:
        self.holders: list[FakeLock] = []

    def start(self, path: Path, hold_s: float) -> FakeLock:
        self.holders.append(FakeLock(path, hold_s))
        return self.holders[-1]

"""Shared test helpers: a fake clock, made-up samples, a stub store, runs.

Not a test module: the tests import it by name (tests/conftest.py's folder is on ``sys.path``).
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any, cast

import orjson
from engine_helpers import BASE_CONFIG as BASE_RUN

from stress.config import DEFAULT_PROFILE_DIR, Settings, settings_from_dict
from stress.controls import Flag
from stress.engine.operations import OpResult
from stress.engine.runner import RunOutcome, run_simulation
from stress.metadb import MetaDb, WriteOutcome
from stress.observe.monitor import COORDINATOR, ResourceSample
from stress.plan.profiles import Profile, load_profiles
from stress.plan.workload import PlanLimits, PlannedOp

MB = 1024 * 1024

#: The shared base run (:data:`engine_helpers.BASE_CONFIG`) with a seed of its own and a CPU
#: budget no test machine reaches (tests about CPU backpressure set their own).
BASE_CONFIG: dict[str, Any] = {**BASE_RUN, "seed": 4242, "max_cpu_percent": 100_000}

LIMITS = PlanLimits(1, 50, 0.0, 1.0, 3)


class FakeClock:
    """Time that moves only when told to: ``wait`` advances it instantly."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def wait(self, flag: Flag, seconds: float) -> bool:
        if not flag.is_set() and seconds > 0:
            self.t += seconds
        return flag.is_set()

    def advance(self, seconds: float) -> None:
        self.t += seconds


class StubStore:
    """Stands in for a MetaDb where the op itself is faked (see ``fake_execute``).

    A user runs a single insert as planned on the store itself, not through ``execute``
    (``UserRunner._run_single``): that write lands here, after ``service_s`` of ``clock``.
    """

    def __init__(self, clock: FakeClock | None, service_s: float) -> None:
        self._clock = clock
        self._service_s = service_s
        self._ids = itertools.count(1)

    def record(self, table: str, row: dict[str, Any]) -> WriteOutcome:
        if self._clock is not None:
            self._clock.advance(self._service_s)
        return WriteOutcome(
            table, "persisted", next(self._ids), row_json=orjson.dumps(row).decode()
        )

    def close(self) -> None:
        pass


def stub_store(clock: FakeClock | None = None, service_s: float = 0.0) -> MetaDb:
    return cast(MetaDb, StubStore(clock, service_s))


def fake_execute(clock: FakeClock, service_s: float) -> Any:
    """An ``operations.execute`` double: every op succeeds after exactly ``service_s``."""

    def execute(store: MetaDb, op: PlannedOp, user_id: int) -> OpResult:
        clock.advance(service_s)
        return OpResult(True)

    return execute


def sample(
    memory_mb: float = 100.0,
    cpu: float | None = 10.0,
    wal_mb: float = 0.0,
    disk_mb: float = 1.0,
    load: float = 0.5,
) -> ResourceSample:
    """A made-up sample with the given values in the limits' units."""
    return ResourceSample(
        {COORDINATOR: int(memory_mb * MB)},
        cpu,
        load,
        int(disk_mb * MB),
        (int(wal_mb * MB),),
    )


def profile(name: str = "mixed") -> Profile:
    return load_profiles(DEFAULT_PROFILE_DIR)[name]


def small_settings(output_dir: Path, **overrides: Any) -> Settings:
    return settings_from_dict({**BASE_CONFIG, "output_dir": str(output_dir), **overrides})


def run(settings: Settings) -> RunOutcome:
    """Run quietly (the human output goes to a string)."""
    return run_simulation(settings, out=io.StringIO())

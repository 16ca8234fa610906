"""``stress bench open``: the original's cold and warm writes.

Cold first-write: ``iterations`` times, a handle on a file that does not exist yet writes one
row and closes (the open creates the file and its schema: the cost a first process pays).
Warm open-write: ``iterations`` times, a handle on a file already at the current schema writes
one row and closes (the version check finds it current and runs no DDL). Each is timed from the
handle's creation to its close. The cold overhead is the cold median minus the warm median, as
the original printed it. Afterwards every file is counted: a write acknowledged but not in its
file is ``failure``. Each cold file and its ``-wal``/``-shm``/``-tshm`` is removed once
counted, so the bench leaves nothing behind.

The iterations run in one worker of the mode runner: a thread of this process (``threads``)
or one process (``processes``), so the handle opens as a production process's would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stress.bench.fanout import Lane, monotonic_ns, run_workers
from stress.bench.figures import (
    StoreChoices,
    StoreFactory,
    Strategy,
    bench_home,
    count_rows,
    markdown_table,
    percentile_ms,
)
from stress.metadb import MetaDb, StoreOptions, database_files

__all__ = [
    "JSON_KEYS",
    "OVERHEAD_JSON_KEYS",
    "OpenPlan",
    "OpenResult",
    "Overhead",
    "Scenario",
    "format_markdown",
    "run_plan",
]

TABLE = "cli_invocations"
SCENARIOS = ("cold first-write", "warm open-write")
JSON_KEYS = (
    "engine", "connection", "ids", "mode", "scenario", "iterations", "landed",
    "median_ms", "p95_ms", "failure",
)  # fmt: skip
OVERHEAD_JSON_KEYS = ("engine", "connection", "ids", "mode", "cold_overhead_ms")


@dataclass(frozen=True)
class OpenPlan:
    """The original's sizes by default."""

    choices: StoreChoices = field(default_factory=StoreChoices)
    iterations: int = 30


@dataclass(frozen=True)
class _Task:
    home: Path
    options: StoreOptions
    plain: StoreOptions
    store: StoreFactory
    iterations: int


@dataclass
class _Timings:
    """Per scenario: each iteration's ms, and the rows found in its files afterwards."""

    ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SCENARIOS})
    landed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SCENARIOS, 0))
    error: str = ""


def _died(index: int, message: str) -> _Timings:
    return _Timings(error=message)


def _row(i: int) -> dict[str, Any]:
    return {
        "ts_utc": "2026-04-17T00:00:00Z", "bin": "netsky", "argv_json": f'["tick","{i}"]',
        "exit_code": 0, "duration_ms": 3, "host": "bench",
    }  # fmt: skip


def _open_write(task: _Task, path: Path, i: int) -> float:
    """One handle: write one row, close; ms from the handle's creation to its close."""
    started = monotonic_ns()
    store = task.store(path, task.home, task.options)
    try:
        store.record(TABLE, _row(i))
    finally:
        store.close()
    return (monotonic_ns() - started) / 1e6


def _worker(task: _Task, lane: Lane) -> _Timings:
    timings = _Timings()
    cold, warm = SCENARIOS
    for i in range(task.iterations):
        path = task.home / f"cold-{i}.db"  # a new name each time: nothing of it is cached
        timings.ms[cold].append(_open_write(task, path, i))
        timings.landed[cold] += count_rows(path, task.home, task.plain, (TABLE,)) or 0
        for file in database_files(path):
            file.unlink(missing_ok=True)
    path = task.home / "warm.db"
    MetaDb.open(path, task.home, task.plain).close()  # at the current schema, untimed
    for i in range(task.iterations):
        timings.ms[warm].append(_open_write(task, path, i))
    timings.landed[warm] = count_rows(path, task.home, task.plain, (TABLE,)) or 0
    return timings


@dataclass(frozen=True)
class Scenario:
    """One row of the original's table, with the strategy in front."""

    engine: str
    connection: str
    ids: str
    mode: str
    scenario: str
    iterations: int
    landed: int
    median_ms: float
    p95_ms: float
    failure: str

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in JSON_KEYS}


@dataclass(frozen=True)
class Overhead:
    engine: str
    connection: str
    ids: str
    mode: str
    cold_overhead_ms: float

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in OVERHEAD_JSON_KEYS}


@dataclass(frozen=True)
class OpenResult:
    scenarios: list[Scenario]
    overheads: list[Overhead]


def _scenario(plan: OpenPlan, strategy: Strategy, name: str, timings: _Timings) -> Scenario:
    landed, done = timings.landed[name], len(timings.ms[name])
    if timings.error:
        failure = f"worker died: {timings.error}"
    elif landed < done:
        failure = f"{done - landed} of {done} writes not in the file"
    else:
        failure = "none"
    return Scenario(
        strategy.engine, strategy.connection, strategy.ids, plan.choices.mode, name,
        plan.iterations, landed, percentile_ms(timings.ms[name], 0.5),
        percentile_ms(timings.ms[name], 0.95), failure,
    )  # fmt: skip


def run_plan(plan: OpenPlan, progress: Callable[[str], None]) -> OpenResult:
    """Every strategy in turn, each in a fresh folder."""
    choices = plan.choices
    scenarios: list[Scenario] = []
    overheads: list[Overhead] = []
    for strategy in choices.strategies():
        with bench_home(choices, "open-") as home:
            task = _Task(
                home, choices.options(strategy), choices.plain(strategy), choices.store,
                plan.iterations,
            )  # fmt: skip
            (timings,), _ = run_workers(choices.mode, _worker, [task], _died, choices.preload())
        cold, warm = (_scenario(plan, strategy, name, timings) for name in SCENARIOS)
        scenarios += [cold, warm]
        overhead = round(cold.median_ms - warm.median_ms, 3)
        overheads.append(
            Overhead(strategy.engine, strategy.connection, strategy.ids, choices.mode, overhead)
        )
        progress(f"{strategy.label()}: cold {cold.median_ms:.3f} ms, warm {warm.median_ms:.3f} ms")
    return OpenResult(scenarios, overheads)


def format_markdown(result: OpenResult) -> str:
    """The original's table, then its sentence on the cold median overhead, per strategy."""
    rows = (
        [f"{v:.3f}" if k.endswith("_ms") else v for k, v in s.to_json().items()]
        for s in result.scenarios
    )
    text = markdown_table([k.replace("_", " ") for k in JSON_KEYS], rows)
    lines = [
        f"- {o.engine} {o.connection} {o.ids} ({o.mode}): "
        f"the cold median overhead was {o.cold_overhead_ms:.3f} ms"
        for o in result.overheads
    ]
    return text + "\n" + "\n".join(lines) + "\n"

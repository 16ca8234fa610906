"""``stress bench store``: the store's write paths against a raw ``sqlite3`` loop, same rows.

Three scenarios, each measured as interleaved rounds (raw, store, raw, store, ...) so a change
of load on a shared machine hits both sides of a round; the ratio store/raw is taken round by
round, and the median and the spread (min-max) over the rounds are reported:

- ``single``: one row per commit, one thread (target: store >= 0.8 of raw);
- ``batch``: 1,000 rows per transaction, one thread (target: >= 0.6);
- ``processes``: N processes at once, one row per commit each, wall time from a barrier.

The raw loop is what a careful hand-written writer does with the same row dicts: one
connection with the store's pragmas (WAL, ``synchronous = NORMAL``, the busy timeout), each
row serialised with ``orjson`` (the fastest serialiser at hand) and inserted with an
autocommit ``INSERT`` (``single``) or an ``executemany`` inside ``BEGIN IMMEDIATE`` ...
``COMMIT`` (``batch``). It validates nothing, spools nothing and returns no outcome: the gap
is what the store's guarantees cost. Every measurement writes into a fresh database of the
store's schema.

The command and its flags are :mod:`stress.cli.bench`'s; this module takes a
:class:`StoreBenchPlan`.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from stress.metadb import ConnectionMode, IdStrategy, MetaDb, StoreOptions
from stress.plan.draws import Draws
from stress.plan.payloads import row_factory

__all__ = ["SCENARIOS", "TARGETS", "StoreBenchPlan", "format_store", "measure_store"]

#: The scenarios, in the order printed.
SCENARIOS: tuple[str, ...] = ("single", "batch", "processes")
#: The issue's targets for store/raw per scenario (none for processes).
TARGETS: dict[str, float] = {"single": 0.8, "batch": 0.6}
_TABLE = "token_usage"
_INSERT = f"INSERT INTO {_TABLE} (row_json) VALUES (?)"
_BATCH_ROWS = 1000
_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class StoreBenchPlan:
    """What one ``stress bench store`` measures."""

    rounds: int = 5
    #: Rows of the ``single`` scenario per measurement.
    single_rows: int = 5000
    #: 1,000-row batches of the ``batch`` scenario per measurement.
    batches: int = 20
    #: Processes of the ``processes`` scenario (0: skip it), and the rows each writes.
    processes: int = 32
    rows_per_process: int = 250
    connection: ConnectionMode = "long-lived"
    ids: IdStrategy = "rowid"
    seed: int = 1

    @property
    def options(self) -> StoreOptions:
        return StoreOptions(connection=self.connection, ids=self.ids)


def _rows(count: int, seed: int | np.random.SeedSequence) -> list[dict[str, Any]]:
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    factory, draws = row_factory(_TABLE), Draws(sequence)
    return [factory.make(draws) for _ in range(count)]


def _fresh(folder: Path, name: str) -> Path:
    """A new database of the store's schema, closed, for one measurement."""
    path = folder / f"{name}.db"
    with MetaDb.open(path, folder):
        pass
    return path


def _raw_connection(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _raw_single(path: Path, rows: list[dict[str, Any]], options: StoreOptions) -> None:
    conn = _raw_connection(path, options.busy_timeout_ms)
    execute, dumps = conn.execute, orjson.dumps
    for row in rows:
        execute(_INSERT, (dumps(row).decode(),))
    conn.close()


def _store_single(path: Path, rows: list[dict[str, Any]], options: StoreOptions) -> None:
    with MetaDb(path, path.parent, options) as store:
        for row in rows:
            if not store.record(_TABLE, row).persisted:
                raise RuntimeError("bench write not persisted")


def _raw_batch(path: Path, rows: list[dict[str, Any]], options: StoreOptions) -> None:
    conn = _raw_connection(path, options.busy_timeout_ms)
    dumps = orjson.dumps
    for start in range(0, len(rows), _BATCH_ROWS):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, [(dumps(r).decode(),) for r in rows[start : start + _BATCH_ROWS]])
        conn.execute("COMMIT")
    conn.close()


def _store_batch(path: Path, rows: list[dict[str, Any]], options: StoreOptions) -> None:
    with MetaDb(path, path.parent, options) as store:
        for start in range(0, len(rows), _BATCH_ROWS):
            if not store.record_batch(_TABLE, rows[start : start + _BATCH_ROWS]).persisted:
                raise RuntimeError("bench batch not persisted")


Loop = Callable[[Path, list[dict[str, Any]], StoreOptions], None]
_IN_PROCESS: dict[str, tuple[Loop, Loop]] = {
    "single": (_raw_single, _store_single),
    "batch": (_raw_batch, _store_batch),
}


def _timed(
    loop: Loop, path: Path, rows: list[dict[str, Any]], options: StoreOptions
) -> tuple[float, float]:
    """Rows per second of one loop, and its thread's CPU time per row (us).

    On a loaded machine the wall figure mostly measures the scheduler; CPU time per row is
    what the loop itself spends, so both are reported.
    """
    cpu = time.thread_time()
    started = time.perf_counter()
    loop(path, rows, options)
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu
    return len(rows) / elapsed, cpu / len(rows) * 1e6


# -- processes -----------------------------------------------------------------------------


def _process_main(
    raw: bool,
    path: Path,
    options: StoreOptions,
    rows: int,
    seed: np.random.SeedSequence,
    barrier: Barrier,
    done: Queue[tuple[int, int]],
) -> None:
    """One writer process: build its rows, wait on the barrier, write them, report times."""
    mine = _rows(rows, seed)
    barrier.wait(timeout=_START_TIMEOUT_S)
    started = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    (_raw_single if raw else _store_single)(path, mine, options)
    done.put((started, time.clock_gettime_ns(time.CLOCK_MONOTONIC)))


def _processes(raw: bool, path: Path, plan: StoreBenchPlan) -> float:
    """Rows per second of ``plan.processes`` writers together, barrier to last write."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["stress.bench.store"])
    barrier = ctx.Barrier(plan.processes)
    done: Queue[tuple[int, int]] = ctx.Queue()
    seeds = np.random.SeedSequence(plan.seed).spawn(plan.processes)
    workers = [
        ctx.Process(
            target=_process_main,
            args=(raw, path, plan.options, plan.rows_per_process, seeds[i], barrier, done),
            daemon=True,
        )
        for i in range(plan.processes)
    ]
    for worker in workers:
        worker.start()
    times = [done.get(timeout=_START_TIMEOUT_S * 2) for _ in workers]
    for worker in workers:
        worker.join()
    if any(worker.exitcode != 0 for worker in workers):
        raise RuntimeError("a bench writer process failed")
    wall_ns = max(end for _, end in times) - min(start for start, _ in times)
    return plan.processes * plan.rows_per_process / (wall_ns / 1e9)


# -- rounds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pair:
    """One scenario in one round: raw and store rows/s, and CPU per row (us; 0 when not
    measured, as for processes)."""

    raw: float
    store: float
    raw_cpu_us: float = 0.0
    store_cpu_us: float = 0.0


def _round(
    folder: Path, plan: StoreBenchPlan, rows: dict[str, list[dict[str, Any]]]
) -> dict[str, _Pair]:
    """One round: per scenario, raw then store, each into a fresh database."""
    figures: dict[str, _Pair] = {}
    for scenario, (raw, store) in _IN_PROCESS.items():
        data = rows[scenario]
        raw_rate, raw_cpu = _timed(raw, _fresh(folder, f"{scenario}-raw"), data, plan.options)
        rate, cpu = _timed(store, _fresh(folder, f"{scenario}-store"), data, plan.options)
        figures[scenario] = _Pair(raw_rate, rate, raw_cpu, cpu)
    if plan.processes:
        raw_rate = _processes(True, _fresh(folder, "processes-raw"), plan)
        rate = _processes(False, _fresh(folder, "processes-store"), plan)
        figures["processes"] = _Pair(raw_rate, rate)
    return figures


def _median(values: list[float], digits: int) -> float:
    return round(statistics.median(values), digits)


def _spread(values: list[float]) -> list[float]:
    return [round(min(values), 3), round(max(values), 3)]


def _figures(scenario: str, pairs: list[_Pair]) -> dict[str, Any]:
    ratios = [p.store / p.raw for p in pairs]
    figures: dict[str, Any] = {
        "raw_rows_per_s": _median([p.raw for p in pairs], 1),
        "store_rows_per_s": _median([p.store for p in pairs], 1),
        "ratio": _median(ratios, 3),
        "ratio_spread": _spread(ratios),
        "target": TARGETS.get(scenario),
    }
    if all(p.store_cpu_us > 0 for p in pairs):
        cpu = [p.raw_cpu_us / p.store_cpu_us for p in pairs]
        figures["raw_cpu_us_per_row"] = _median([p.raw_cpu_us for p in pairs], 2)
        figures["store_cpu_us_per_row"] = _median([p.store_cpu_us for p in pairs], 2)
        figures["cpu_ratio"] = _median(cpu, 3)
        figures["cpu_ratio_spread"] = _spread(cpu)
    return figures


def measure_store(plan: StoreBenchPlan) -> dict[str, Any]:
    """Per scenario: median raw and store rows/s, the median ratio and its spread, and for
    the in-process scenarios the same on CPU time per row."""
    rows = {
        "single": _rows(plan.single_rows, plan.seed),
        "batch": _rows(plan.batches * _BATCH_ROWS, plan.seed),
    }
    rounds: list[dict[str, _Pair]] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stress-bench-store-") as tmp:
        for index in range(plan.rounds):
            folder = Path(tmp) / f"round-{index}"
            folder.mkdir()
            rounds.append(_round(folder, plan, rows))
            loads.append(os.getloadavg()[0])
    scenarios = {
        name: _figures(name, [r[name] for r in rounds])
        for name in SCENARIOS
        if all(name in r for r in rounds)
    }
    return {
        "connection": plan.connection,
        "ids": plan.ids,
        "rounds": plan.rounds,
        "processes": plan.processes,
        "scenarios": scenarios,
        "load_average": [round(min(loads), 2), round(max(loads), 2)],
    }


def format_store(document: dict[str, Any]) -> str:
    """The figures of :func:`measure_store` as a markdown table (targets judged on wall
    time, the issue's measure; the CPU ratio shows how much of a miss is the machine's load)."""
    lines = [
        f"store {document['connection']} + {document['ids']} against raw sqlite3, "
        f"{document['rounds']} interleaved rounds",
        "",
        "| scenario | raw rows/s | store rows/s | store/raw | rounds min-max "
        "| raw CPU us/row | store CPU us/row | CPU ratio | rounds min-max | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in document["scenarios"].items():
        label = f"{document['processes']} processes" if name == "processes" else name
        low, high = s["ratio_spread"]
        cpu = "| - | - | - | - "
        if "cpu_ratio" in s:
            cpu_low, cpu_high = s["cpu_ratio_spread"]
            cpu = (
                f"| {s['raw_cpu_us_per_row']:.2f} | {s['store_cpu_us_per_row']:.2f} "
                f"| {s['cpu_ratio']:.3f} | {cpu_low:.3f}-{cpu_high:.3f} "
            )
        target = "-"
        if s["target"] is not None:
            target = f">= {s['target']} " + ("met" if s["ratio"] >= s["target"] else "not met")
        lines.append(
            f"| {label} | {s['raw_rows_per_s']:,.0f} | {s['store_rows_per_s']:,.0f} "
            f"| {s['ratio']:.3f} | {low:.3f}-{high:.3f} {cpu}| {target} |"
        )
    low, high = document["load_average"]
    lines += ["", f"load average over the rounds: {low:.2f}-{high:.2f}"]
    return "\n".join(lines) + "\n"

"""``stress bench writers``: many writers write single rows at once, per store strategy.

The original's concurrent-writer bench, in the same shape: each writer is a worker writing
``rows_per_writer`` rows (one ``record`` each) as fast as it can, for every writer count and
every combination of engine, connection mode and id strategy asked for. Each combination gets
a fresh database whose schema the parent creates first, so writers open warm as in production.
Writers start together once all are up (start-up is not timed), time every write and count
every outcome. Afterwards the parent counts the rows in the table and the lines in the spool
and reports any write that vanished as ``lost``.

Writers are processes (the default, as this bench always ran them) or threads of this process
(``mode``, the original's), run by :func:`stress.bench.fanout.run_workers`: processes forked
from a ``forkserver``, released together at one scheduled start; a writer that dies without
reporting has its rows counted as failed. Each writer's rows are built before the start, so
only writes are timed.

Rows are the simulator's own (:mod:`stress.plan.payloads`), drawn from the plan's seed. The
command, its flags and its exit codes are :mod:`stress.cli.bench`'s; this module takes a
:class:`BenchPlan`.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from stress.bench.fanout import Lane, Mode, monotonic_ns, pace, run_workers
from stress.bench.figures import percentile_ms
from stress.metadb import (
    ConnectionMode,
    EngineName,
    IdStrategy,
    MetaDb,
    MetaDbError,
    StoreOptions,
    WriteOutcome,
    iter_spool_lines,
    spool_files,
)
from stress.plan.draws import Draws
from stress.plan.payloads import row_factory

__all__ = [
    "JSON_KEYS",
    "TABLES",
    "Accounting",
    "BenchPlan",
    "Combination",
    "WritersRow",
    "account",
    "format_markdown",
    "run_combination",
    "run_plan",
    "sqlite_failures",
    "target_summaries",
]

#: Tables a writer can fill; both are among the original's hottest.
TABLES: tuple[str, ...] = ("token_usage", "cli_invocations")
#: Keys of each object printed by ``--json``, in order.
JSON_KEYS: tuple[str, ...] = (
    "engine",
    "connection",
    "ids",
    "writers",
    "threads",
    "attempted",
    "landed",
    "failed",
    "spooled",
    "lost",
    "p50_ms",
    "p95_ms",
    "wall_ms",
    "writes_per_s",
)
#: The issue's target: long-lived+block must reach this multiple of per-op+row's writes/s.
TARGET_RATIO = 3.0

# Distinct error messages kept per writer; the rest are counted under one key.
_MAX_ERROR_KEYS = 20
_MAX_MESSAGE_CHARS = 200


# -- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Combination:
    """One row of the result table: a strategy set and a writer count."""

    engine: EngineName
    connection: ConnectionMode
    ids: IdStrategy
    writers: int
    #: Threads per writer process, each with its own handle, sharing the process's rows.
    threads: int = 1

    def label(self) -> str:
        threads = f" x {self.threads} threads" if self.threads > 1 else ""
        return f"{self.engine} {self.connection} {self.ids} {self.writers} writers{threads}"


@dataclass(frozen=True)
class BenchPlan:
    """Everything one bench run does, validated."""

    writer_counts: tuple[int, ...] = (1, 4, 8, 16, 32)
    #: Rows each writer process attempts (the original: 500, so 32 writers make 16,000).
    rows_per_writer: int = 500
    #: Threads per writer process, each with its own store handle, splitting its rows: how
    #: ``writer-loop`` gets nearby writes to group (with one thread it has none).
    threads: int = 1
    engines: tuple[EngineName, ...] = ("sqlite",)
    connections: tuple[ConnectionMode, ...] = ("per-op", "long-lived")
    ids: tuple[IdStrategy, ...] = ("row", "block")
    table: str = "token_usage"
    #: Seeds the rows' contents; every combination writes the same rows.
    seed: int = 0
    #: Where each combination's database folder is made and kept; ``None``: a temp folder,
    #: removed after the combination.
    directory: Path | None = None
    #: Writers as processes (this bench's default) or threads of one process (the original's).
    mode: Mode = "processes"
    #: turso only: every connection uses pyturso's experimental multi-process WAL.
    multiprocess_wal: bool = False

    def wal(self, engine: EngineName) -> bool:
        """Whether ``engine``'s connections use turso's multi-process WAL."""
        return self.multiprocess_wal and engine == "turso"

    def combinations(self) -> list[Combination]:
        """Grouped by engine, then writer count, so strategies sit side by side."""
        return [
            Combination(engine, connection, ids, writers, self.threads)
            for engine in self.engines
            for writers in self.writer_counts
            for connection in self.connections
            for ids in self.ids
        ]


# -- one writer process --------------------------------------------------------------------


@dataclass(frozen=True)
class _WriterTask:
    """What one writer process is told to do (pickled to it)."""

    index: int
    path: Path
    home: Path
    options: StoreOptions
    table: str
    #: Built by the parent before the start, so the writer only writes.
    rows: tuple[Mapping[str, Any], ...]
    #: Threads in the writer, each with its own handle, splitting its rows.
    threads: int = 1


@dataclass
class _WriterReport:
    """What one writer process sends back (pickled to the parent)."""

    index: int
    #: Latency of every attempted write, ms, in order.
    latencies_ms: list[float] = field(default_factory=list)
    landed: int = 0
    spooled: int = 0
    #: Writes with status ``failed`` plus exceptions caught, plus rows never attempted.
    failed: int = 0
    #: ``"Class: message"`` of each caught exception or failed outcome, with its count.
    errors: Counter[str] = field(default_factory=Counter)
    #: The store's error class of each spooled write, with its count.
    spool_classes: Counter[str] = field(default_factory=Counter)
    #: CLOCK_MONOTONIC ns when the barrier released this writer, and when its last write ended.
    released_ns: int | None = None
    done_ns: int | None = None

    def note_outcome(self, outcome: WriteOutcome) -> None:
        if outcome.status == "persisted":
            self.landed += 1
        elif outcome.status == "spooled":
            self.spooled += 1
            self.spool_classes[outcome.error_class or "unknown"] += 1
        else:
            self.failed += 1
            self._note_error(f"status failed ({outcome.error_class})", outcome.reason or "")

    def note_exception(self, exc: BaseException, count: int = 1) -> None:
        self.failed += count
        self._note_error(type(exc).__name__, str(exc), max(count, 1))

    def _note_error(self, kind: str, message: str, count: int = 1) -> None:
        key = f"{kind}: {message[:_MAX_MESSAGE_CHARS]}"
        if key not in self.errors and len(self.errors) >= _MAX_ERROR_KEYS:
            key = "(further distinct errors)"
        self.errors[key] += count


def _died(index: int, message: str, rows: int) -> _WriterReport:
    """The report of a writer that never reported: its rows cannot be known to have landed."""
    report = _WriterReport(index, failed=rows)
    report.errors[message] = rows
    return report


def _writer(task: _WriterTask, lane: Lane) -> _WriterReport:
    """One writer (a thread or a process): always returns a report, whatever happens."""
    report = _WriterReport(task.index)
    attempted = 0
    try:
        _warm_engine(task.options.engine)
        if task.threads > 1:
            attempted = _threaded_writes(task, lane, report)
        else:
            db = MetaDb(task.path, task.home, task.options)
            pace(lane.start_ns, 0, 1.0)  # every writer starts at the scheduled start
            report.released_ns = monotonic_ns()
            for row in task.rows:
                _timed_write(db, task.table, row, report)
                attempted += 1
            report.done_ns = monotonic_ns()
            db.close()
    except BaseException as exc:  # the bench never crashes on a writer: it counts
        # Rows not done cannot be known to have landed: they count as failed, with the error
        # (an error after the last write, closing, is noted but fails no row).
        report.note_exception(exc, len(task.rows) - attempted)
        report.done_ns = report.done_ns or monotonic_ns()
    return report


def _threaded_writes(task: _WriterTask, lane: Lane, report: _WriterReport) -> int:
    """``task.threads`` threads, each with its own handle, write every ``threads``-th row
    from the scheduled start; their reports are merged into ``report``. Returns the rows
    attempted."""
    parts = [_WriterReport(task.index) for _ in range(task.threads)]

    def write(index: int) -> None:
        with MetaDb(task.path, task.home, task.options) as db:
            pace(lane.start_ns, 0, 1.0)
            for row in task.rows[index :: task.threads]:
                _timed_write(db, task.table, row, parts[index])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(task.threads)]
    for thread in threads:
        thread.start()
    pace(lane.start_ns, 0, 1.0)
    report.released_ns = monotonic_ns()
    for thread in threads:
        thread.join()
    report.done_ns = monotonic_ns()
    for part in parts:
        report.latencies_ms += part.latencies_ms
        report.landed += part.landed
        report.spooled += part.spooled
        report.failed += part.failed
        report.errors += part.errors
        report.spool_classes += part.spool_classes
    return sum(len(part.latencies_ms) for part in parts)


def _make_rows(table: str, count: int, seed: np.random.SeedSequence) -> tuple[dict[str, Any], ...]:
    """``count`` rows of ``table``, the simulator's own, built before the clock starts."""
    factory, draws = row_factory(table), Draws(seed)
    return tuple(factory.make(draws) for _ in range(count))


def _warm_engine(engine: EngineName) -> None:
    # The store imports pyturso lazily, on the first connection; import it before the barrier
    # so the first timed write does not pay for loading a native library.
    if engine == "turso":
        with contextlib.suppress(ImportError):
            __import__("turso")


def _timed_write(db: MetaDb, table: str, row: Mapping[str, Any], report: _WriterReport) -> None:
    started = time.perf_counter()
    try:
        outcome = db.record(table, row)
    except Exception as exc:  # counted with class and message; the writer carries on
        report.latencies_ms.append((time.perf_counter() - started) * 1000)
        report.note_exception(exc)
        return
    report.latencies_ms.append((time.perf_counter() - started) * 1000)
    report.note_outcome(outcome)


# -- accounting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounting:
    """Where every attempted write went, checked against what the files hold."""

    #: Writes with no outcome, plus landed rows missing from the table, plus spooled rows
    #: missing from the spool: the silent losses the store exists to prevent.
    lost: int
    notes: tuple[str, ...] = ()


def account(
    attempted: int, landed: int, spooled: int, failed: int, rows_in_table: int, spool_lines: int
) -> Accounting:
    """Reconcile writers' own counts with the rows in the table and lines in the spool.

    ``failed`` counts writes whose failure was reported (status ``failed`` or an exception
    caught): loud, not lost. A surplus in the table or spool is noted but is not a loss.
    """
    notes: list[str] = []
    unaccounted = attempted - landed - spooled - failed
    if unaccounted < 0:
        notes.append(f"{-unaccounted} more outcomes than attempted writes")
    missing_rows = landed - rows_in_table
    if missing_rows > 0:
        notes.append(f"{missing_rows} writes reported persisted are not in the table")
    elif missing_rows < 0:
        notes.append(f"table holds {-missing_rows} rows more than writers reported persisted")
    missing_lines = spooled - spool_lines
    if missing_lines > 0:
        notes.append(f"{missing_lines} writes reported spooled are not in the spool")
    elif missing_lines < 0:
        notes.append(f"spool holds {-missing_lines} lines more than writers reported spooled")
    lost = max(unaccounted, 0) + max(missing_rows, 0) + max(missing_lines, 0)
    return Accounting(lost, tuple(notes))


# -- one combination -----------------------------------------------------------------------


@dataclass(frozen=True)
class WritersRow:
    """The result of one combination: a row of the table, an object of ``--json``."""

    engine: EngineName
    connection: ConnectionMode
    ids: IdStrategy
    writers: int
    attempted: int
    landed: int
    failed: int
    spooled: int
    lost: int
    #: Median and 95th percentile of every write's latency (all writers pooled), ms.
    p50_ms: float
    p95_ms: float
    #: From the barrier's release to the end of the last writer's last write, ms.
    wall_ms: float
    #: Landed writes per second of wall time, rows/s.
    writes_per_s: float
    #: Threads per writer process (each its own handle).
    threads: int = 1
    #: Caught exceptions and failed outcomes as ``"Class: message"`` with their counts.
    errors: Mapping[str, int] = field(default_factory=dict)
    #: The store's error class of each spooled write, with its count.
    spool_classes: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return Combination(
            self.engine, self.connection, self.ids, self.writers, self.threads
        ).label()

    def to_json(self) -> dict[str, Any]:
        """Exactly :data:`JSON_KEYS`, in order."""
        return {key: getattr(self, key) for key in JSON_KEYS}


def run_combination(plan: BenchPlan, combo: Combination, home: Path) -> WritersRow:
    """Run one combination in the empty folder ``home`` (the database and spool go there)."""
    path = home / "meta.db"
    # The parent creates the schema and closes its connection (turso refuses a second
    # process while it is open), so writers find a warm file, as production processes do.
    plain = StoreOptions(engine=combo.engine, multiprocess_wal=plan.wal(combo.engine))
    with MetaDb.open(path, home, plain):
        pass
    options = replace(plain, connection=combo.connection, ids=combo.ids)
    reports, released_ns = _run_writers(plan, combo, path, home, options)
    notes: list[str] = []
    rows_in_table = _count_rows(path, home, plain, plan.table, notes)
    spool_lines = _count_spool(home, plan.table, notes)
    return _summarise(plan, combo, reports, released_ns, rows_in_table, spool_lines, notes)


def _run_writers(
    plan: BenchPlan, combo: Combination, path: Path, home: Path, options: StoreOptions
) -> tuple[list[_WriterReport], int]:
    """Run the writers, released together; return their reports and the scheduled start."""
    seeds = np.random.SeedSequence(plan.seed).spawn(combo.writers)
    tasks = [
        _WriterTask(
            i,
            path,
            home,
            options,
            plan.table,
            _make_rows(plan.table, rows, seeds[i]),
            combo.threads,
        )
        for i, rows in enumerate([plan.rows_per_writer] * combo.writers)
    ]
    died = functools.partial(_died, rows=plan.rows_per_writer)
    preload = ("turso",) if "turso" in plan.engines else ()
    return run_workers(plan.mode, _writer, tasks, died, preload)


def _count_rows(path: Path, home: Path, options: StoreOptions, table: str, notes: list[str]) -> int:
    try:
        with MetaDb(path, home, options) as db:
            return int(db.query(f"SELECT count(*) FROM {table}").rows[0][0])
    except MetaDbError as exc:
        # Rows that cannot be counted cannot be shown to exist: they will count as lost.
        notes.append(f"could not count rows in {table}: {exc}")
        return 0


def _count_spool(home: Path, table: str, notes: list[str]) -> int:
    lines = torn = 0
    for path in spool_files(home):
        for line in iter_spool_lines(path):
            if line.record is None:
                torn += 1
            elif line.record.get("table") == table:
                lines += 1
    if torn:
        notes.append(f"{torn} torn spool lines")
    return lines


def _summarise(
    plan: BenchPlan,
    combo: Combination,
    reports: Sequence[_WriterReport],
    released_ns: int,
    rows_in_table: int,
    spool_lines: int,
    notes: list[str],
) -> WritersRow:
    attempted = combo.writers * plan.rows_per_writer
    landed = sum(report.landed for report in reports)
    spooled = sum(report.spooled for report in reports)
    failed = sum(report.failed for report in reports)
    accounting = account(attempted, landed, spooled, failed, rows_in_table, spool_lines)
    p50_ms, p95_ms = _percentiles_ms([r.latencies_ms for r in reports])
    wall_ms = _wall_ms(reports, released_ns)
    return WritersRow(
        combo.engine,
        combo.connection,
        combo.ids,
        combo.writers,
        attempted,
        landed,
        failed,
        spooled,
        accounting.lost,
        p50_ms,
        p95_ms,
        wall_ms,
        round(landed / (wall_ms / 1000), 1) if wall_ms > 0 else 0.0,
        threads=combo.threads,
        errors=dict(sum((report.errors for report in reports), Counter[str]())),
        spool_classes=dict(sum((report.spool_classes for report in reports), Counter[str]())),
        notes=(*accounting.notes, *notes),
    )


def _percentiles_ms(latencies: Sequence[list[float]]) -> tuple[float, float]:
    pooled = [ms for writer in latencies for ms in writer]
    return percentile_ms(pooled, 0.5), percentile_ms(pooled, 0.95)  # the original's rule


def _wall_ms(reports: Sequence[_WriterReport], released_ns: int) -> float:
    # The earliest release seen by any party: the parent may be scheduled after its writers.
    starts = [released_ns, *(r.released_ns for r in reports if r.released_ns is not None)]
    ends = [r.done_ns for r in reports if r.done_ns is not None]
    if not ends:
        return 0.0
    return round(max(0, max(ends) - min(starts)) / 1e6, 1)


# -- the whole run -------------------------------------------------------------------------


def run_plan(plan: BenchPlan, progress: Callable[[str], None]) -> list[WritersRow]:
    """Run every combination in turn; ``progress`` gets one line as each finishes."""
    combinations = plan.combinations()
    rows: list[WritersRow] = []
    for number, combo in enumerate(combinations, start=1):
        with _combination_home(plan, combo) as home:
            row = run_combination(plan, combo, home)
        rows.append(row)
        progress(f"[{number}/{len(combinations)}] {_progress_line(row)}")
    return rows


@contextlib.contextmanager
def _combination_home(plan: BenchPlan, combo: Combination) -> Iterator[Path]:
    threads = f"x{combo.threads}" if combo.threads > 1 else ""
    prefix = f"writers-{combo.engine}-{combo.connection}-{combo.ids}-{combo.writers}{threads}-"
    if plan.directory is not None:
        plan.directory.mkdir(parents=True, exist_ok=True)
        yield Path(tempfile.mkdtemp(prefix=prefix, dir=plan.directory))
        return
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as folder:
        yield Path(folder)


def _progress_line(row: WritersRow) -> str:
    return (
        f"{row.label}: landed {row.landed}/{row.attempted}, spooled {row.spooled}, "
        f"failed {row.failed}, lost {row.lost}; median {row.p50_ms:.2f} ms, "
        f"p95 {row.p95_ms:.2f} ms, wall {row.wall_ms:.0f} ms, {row.writes_per_s:.0f} writes/s"
    )


def format_markdown(rows: Sequence[WritersRow]) -> str:
    """The original's table shape, then a note per row that spooled, failed or lost."""
    header = (
        "| engine | connection | ids | writers | attempted | landed | failed | spooled | lost "
        "| median ms | p95 ms | wall ms | writes/s |"
    )
    lines = [header, "|---" * 13 + "|"]
    for r in rows:
        lines.append(
            f"| {r.engine} | {r.connection} | {r.ids} | {_writers_cell(r)} | {r.attempted} "
            f"| {r.landed} | {r.failed} | {r.spooled} | {r.lost} | {r.p50_ms:.2f} "
            f"| {r.p95_ms:.2f} | {r.wall_ms:.0f} | {r.writes_per_s:.0f} |"
        )
    notes = [note for row in rows for note in _row_notes(row)]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _writers_cell(row: WritersRow) -> str:
    # Processes, and threads in each when more than one.
    return f"{row.writers}x{row.threads}" if row.threads > 1 else str(row.writers)


def _row_notes(row: WritersRow) -> list[str]:
    parts: list[str] = []
    if row.spool_classes:
        parts.append("spooled as " + _counts(row.spool_classes))
    if row.errors:
        parts.append("errors: " + _counts(row.errors))
    parts.extend(row.notes)
    return [f"- {row.label}: " + "; ".join(parts)] if parts else []


def _counts(counts: Mapping[str, int]) -> str:
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return ", ".join(f"{key} x{count}" for key, count in ranked)


def target_summaries(rows: Sequence[WritersRow]) -> list[str]:
    """Per engine, at its largest writer count: long-lived+block over per-op+row writes/s."""
    lines: list[str] = []
    for engine in dict.fromkeys(row.engine for row in rows):
        most = max(row.writers for row in rows if row.engine == engine)
        at_most = {
            (r.connection, r.ids): r for r in rows if r.engine == engine and r.writers == most
        }
        fast, slow = at_most.get(("long-lived", "block")), at_most.get(("per-op", "row"))
        if fast is None or slow is None:
            continue
        ratio = f"{fast.writes_per_s / slow.writes_per_s:.1f}x" if slow.writes_per_s else "n/a"
        verdict = (
            "met"
            if slow.writes_per_s and fast.writes_per_s >= TARGET_RATIO * slow.writes_per_s
            else "not met"
        )
        # Spooled writes are not in writes/s; say so, or a turso ratio would read as a speedup.
        spooled = fast.spooled + slow.spooled
        aside = f"; {spooled} writes spooled, not counted" if spooled else ""
        lines.append(
            f"{engine}, {most} writers: long-lived+block / per-op+row = {ratio} "
            f"(target >= {TARGET_RATIO:g}x: {verdict}{aside})"
        )
    return lines


def sqlite_failures(rows: Sequence[WritersRow], plan: BenchPlan) -> list[str]:
    """One line per sqlite row that lost or failed a write, with the command to reproduce it.

    turso rows never fail the bench: its refusal of a second process is what is measured.
    """
    return [
        f"FAILED {row.label}: lost {row.lost}, failed {row.failed}; reproduce: "
        f"{_reproduce_command(row, plan)}"
        for row in rows
        if row.engine == "sqlite" and (row.lost or row.failed)
    ]


def _reproduce_command(row: WritersRow, plan: BenchPlan) -> str:
    return (
        f"stress bench writers --writers {row.writers} --engine {row.engine} "
        f"--connection {row.connection} --ids {row.ids} --rows-per-writer {plan.rows_per_writer} "
        f"--table {plan.table} --seed {plan.seed}"
        + (f" --threads {row.threads}" if row.threads > 1 else "")
    )

"""``stress bench writers``: many processes write single rows at once, per store strategy.

The original's concurrent-writer bench, in the same shape: each writer is its own process
writing ``rows_per_writer`` rows (one ``record`` each) as fast as it can, for every writer count
and every combination of engine, connection mode and id strategy asked for. Each combination
gets a fresh database whose schema the parent creates first, so writers open warm as in
production. Writers start together on a barrier once their process is up (start-up is not
timed), time every write and count every outcome. Afterwards the parent counts the rows in the
table and the lines in the spool and reports any write that vanished as ``lost``.

Writers are started with the ``forkserver`` context, not ``fork``: the parent has just used a
SQLite connection to create the schema (SQLite forbids carrying one across ``fork``) and, run
from the CLI or pytest, may have threads, which ``fork`` would copy mid-state. ``spawn`` would be
as safe but starts a fresh interpreter per writer (about 0.5 s each, 16 s for 32 writers on two
cores); the fork server preloads this module once and forks each writer from that clean,
single-threaded process in milliseconds. The stdlib suffices (the writer entry point is a plain
module-level function), so the dill-based ``multiprocess`` package is not needed.

Exit codes of :func:`run_writers_command`: 0 every sqlite row lost and failed nothing; 1 some
sqlite row did (listed on stderr). Bad flags raise :class:`~stress.errors.ConfigError` (exit 2).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import queue
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any, TextIO, TypeVar

import numpy as np
import orjson

from stress.errors import ConfigError
from stress.metadb import (
    CONNECTION_MODES,
    ENGINES,
    ID_STRATEGIES,
    ConnectionMode,
    EngineName,
    IdStrategy,
    MetaDb,
    MetaDbError,
    StoreOptions,
    WriteOutcome,
    engine_version,
    iter_spool_lines,
    spool_files,
)

__all__ = [
    "JSON_KEYS",
    "TABLES",
    "Accounting",
    "BenchPlan",
    "Combination",
    "WritersRow",
    "account",
    "add_writers_arguments",
    "format_markdown",
    "main",
    "plan_from_args",
    "run_combination",
    "run_plan",
    "run_writers_command",
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

#: Shown under ``--help``; keep it on one line with argparse.RawDescriptionHelpFormatter.
_EXAMPLE = (
    "example: stress bench writers --writers 1,8,32 --connection per-op,long-lived --ids row,block"
)
_DEFAULT_WRITERS = "1,4,8,16,32"
_DEFAULT_CONNECTIONS = "per-op,long-lived"
_DEFAULT_IDS = "row,block"
# Generous: a writer only imports nothing (preloaded) and builds its rows before the barrier.
_START_TIMEOUT_S = 120.0
# How often the parent checks that writers it still waits for are alive, s.
_POLL_S = 0.5
# Distinct error messages kept per writer; the rest are counted under one key.
_MAX_ERROR_KEYS = 20
_MAX_MESSAGE_CHARS = 200
_Choice = TypeVar("_Choice", bound=str)


# -- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Combination:
    """One row of the result table: a strategy set and a writer count."""

    engine: EngineName
    connection: ConnectionMode
    ids: IdStrategy
    writers: int

    def label(self) -> str:
        return f"{self.engine} {self.connection} {self.ids} {self.writers} writers"


@dataclass(frozen=True)
class BenchPlan:
    """Everything one bench run does, validated."""

    writer_counts: tuple[int, ...] = (1, 4, 8, 16, 32)
    #: Rows each writer attempts (the original: 500, so 32 writers make 16,000).
    rows_per_writer: int = 500
    engines: tuple[EngineName, ...] = ("sqlite",)
    connections: tuple[ConnectionMode, ...] = ("per-op", "long-lived")
    ids: tuple[IdStrategy, ...] = ("row", "block")
    table: str = "token_usage"
    #: Seeds the rows' contents; every combination writes the same rows.
    seed: int = 0
    #: Where each combination's database folder is made and kept; ``None``: a temp folder,
    #: removed after the combination.
    directory: Path | None = None

    def combinations(self) -> list[Combination]:
        """Grouped by engine, then writer count, so strategies sit side by side."""
        return [
            Combination(engine, connection, ids, writers)
            for engine in self.engines
            for writers in self.writer_counts
            for connection in self.connections
            for ids in self.ids
        ]


def add_writers_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``stress bench writers`` to ``parser`` (values checked later)."""
    # Flags are read as text and validated by plan_from_args, so every bad value ends the same
    # way (one ConfigError line, exit 2) rather than in argparse's usage dump.
    add = parser.add_argument
    add(
        "--writers",
        default=_DEFAULT_WRITERS,
        help="writer counts, a comma list (default: %(default)s)",
    )
    add("--rows-per-writer", default="500", help="rows each writer attempts (default: %(default)s)")
    add(
        "--engine",
        default="sqlite",
        help=f"engines, a comma list of {', '.join(ENGINES)} (default: %(default)s)",
    )
    add(
        "--connection",
        default=_DEFAULT_CONNECTIONS,
        help=f"connection modes, a comma list of {', '.join(CONNECTION_MODES)} "
        "(default: %(default)s)",
    )
    add(
        "--ids",
        default=_DEFAULT_IDS,
        help=f"id strategies, a comma list of {', '.join(ID_STRATEGIES)} (default: %(default)s)",
    )
    add(
        "--table",
        default="token_usage",
        help=f"table written, one of {', '.join(TABLES)} (default: %(default)s)",
    )
    add("--seed", default="0", help="seed of the rows' contents (default: %(default)s)")
    add(
        "--dir",
        default=None,
        help="keep each combination's database under this folder (default: a temp folder, removed)",
    )
    add("--json", action="store_true", help="print only a JSON list of result objects")
    if parser.epilog is None:  # the caller's own example wins
        parser.epilog = _EXAMPLE


def plan_from_args(args: argparse.Namespace) -> BenchPlan:
    """The validated plan; raises :class:`ConfigError` naming the bad flag and the fix."""
    engines = _parse_choices("--engine", args.engine, ENGINES)
    for engine in engines:
        if engine_version(engine) == "not installed":
            raise ConfigError("--engine", engine, "install pyturso (pip install 'stress[turso]')")
    table = str(args.table)
    if table not in TABLES:
        raise ConfigError("--table", table, f"choose one of {', '.join(TABLES)}")
    return BenchPlan(
        writer_counts=_parse_counts("--writers", args.writers),
        rows_per_writer=_parse_positive("--rows-per-writer", args.rows_per_writer),
        engines=engines,
        connections=_parse_choices("--connection", args.connection, CONNECTION_MODES),
        ids=_parse_choices("--ids", args.ids, ID_STRATEGIES),
        table=table,
        seed=_parse_positive("--seed", args.seed, minimum=0),
        directory=Path(args.dir) if args.dir else None,
    )


def _parse_positive(flag: str, text: object, minimum: int = 1) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(flag, text, f"give an integer >= {minimum}")
    return value


def _parse_counts(flag: str, text: object) -> tuple[int, ...]:
    fix = "give a comma list of integers >= 1, e.g. 1,4,8,16,32"
    parts = [part.strip() for part in str(text).split(",")]
    counts: list[int] = []
    for part in parts:
        if not part.isdigit() or int(part) < 1:
            raise ConfigError(flag, text, fix)
        if int(part) not in counts:
            counts.append(int(part))
    return tuple(counts)


def _parse_choices(flag: str, text: object, valid: tuple[_Choice, ...]) -> tuple[_Choice, ...]:
    chosen: list[_Choice] = []
    for part in (part.strip() for part in str(text).split(",")):
        match = next((choice for choice in valid if choice == part), None)
        if match is None:
            raise ConfigError(flag, text, f"give a comma list of {', '.join(valid)}")
        if match not in chosen:
            chosen.append(match)
    return tuple(chosen)


# -- rows ----------------------------------------------------------------------------------

_AGENTS = tuple(f"agent{i}" for i in range(8))
_MODELS = {"claude": ("claude-opus-4", "claude-sonnet-4"), "codex": ("gpt-5-codex",)}
_BINS = {"netsky": ("send", "tick", "status"), "git": ("push", "fetch"), "cargo": ("test",)}


def _make_rows(table: str, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``count`` rows of ``table`` with plausible fields, built before the clock starts."""
    make = _token_usage_row if table == "token_usage" else _cli_invocation_row
    return [make(rng) for _ in range(count)]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _token_usage_row(rng: np.random.Generator) -> dict[str, Any]:
    runtime = _pick(rng, tuple(_MODELS))
    # Log-normal token counts: most turns are a few thousand tokens, a few are huge.
    input_tokens = int(rng.lognormal(8.5, 1.0))
    output_tokens = int(rng.lognormal(6.5, 1.0))
    return {
        "ts_utc": _now_iso(),
        "session_id": f"sess-{int(rng.integers(1 << 32)):08x}",
        "agent": _pick(rng, _AGENTS),
        "runtime": runtime,
        "model": _pick(rng, _MODELS[runtime]),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": int(input_tokens * rng.uniform(0.0, 0.9)),
        # $3 per million input tokens and $15 per million output = 3 and 15 micro-dollars each.
        "cost_usd_micros": 3 * input_tokens + 15 * output_tokens,
        "detail_json": orjson.dumps({"turn": int(rng.integers(1, 200))}).decode(),
    }


def _cli_invocation_row(rng: np.random.Generator) -> dict[str, Any]:
    binary = _pick(rng, tuple(_BINS))
    return {
        "ts_utc": _now_iso(),
        "bin": binary,
        "argv_json": orjson.dumps([binary, _pick(rng, _BINS[binary])]).decode(),
        "exit_code": 0 if rng.random() < 0.95 else 1,
        "duration_ms": round(float(rng.lognormal(4.0, 1.2)), 3),
        "host": f"host-{int(rng.integers(4))}",
    }


# -- one writer process --------------------------------------------------------------------


@dataclass(frozen=True)
class _WriterTask:
    """What one writer process is told to do (pickled to it)."""

    index: int
    path: Path
    home: Path
    options: StoreOptions
    table: str
    rows: int
    seed: np.random.SeedSequence


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


def _monotonic_ns() -> int:
    # CLOCK_MONOTONIC is one system-wide clock on Linux, so stamps from different writer
    # processes can be compared; perf_counter promises nothing across processes.
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _writer_main(task: _WriterTask, barrier: Barrier, results: Queue[_WriterReport]) -> None:
    """Entry point of a writer process: always sends a report, whatever happens."""
    report = _WriterReport(task.index)
    attempted = 0
    try:
        rows = _make_rows(task.table, task.rows, np.random.default_rng(task.seed))
        _warm_engine(task.options.engine)
        db = MetaDb(task.path, task.home, task.options)
        barrier.wait(timeout=_START_TIMEOUT_S)
        report.released_ns = _monotonic_ns()
        for row in rows:
            _timed_write(db, task.table, row, report)
            attempted += 1
        report.done_ns = _monotonic_ns()
        db.close()
    except BaseException as exc:  # the bench never crashes on a writer: it counts
        # Rows not done cannot be known to have landed: they count as failed, with the error
        # (an error after the last write, closing, is noted but fails no row).
        report.note_exception(exc, task.rows - attempted)
        report.done_ns = report.done_ns or _monotonic_ns()
    results.put(report)


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
    #: Caught exceptions and failed outcomes as ``"Class: message"`` with their counts.
    errors: Mapping[str, int] = field(default_factory=dict)
    #: The store's error class of each spooled write, with its count.
    spool_classes: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return Combination(self.engine, self.connection, self.ids, self.writers).label()

    def to_json(self) -> dict[str, Any]:
        """Exactly :data:`JSON_KEYS`, in order."""
        return {key: getattr(self, key) for key in JSON_KEYS}


def run_combination(plan: BenchPlan, combo: Combination, home: Path) -> WritersRow:
    """Run one combination in the empty folder ``home`` (the database and spool go there)."""
    path = home / "meta.db"
    # The parent creates the schema and closes its connection (turso refuses a second
    # process while it is open), so writers find a warm file, as production processes do.
    with MetaDb.open(path, home, StoreOptions(engine=combo.engine)):
        pass
    options = StoreOptions(engine=combo.engine, connection=combo.connection, ids=combo.ids)
    reports, released_ns = _run_writers(plan, combo, path, home, options)
    notes: list[str] = []
    rows_in_table = _count_rows(path, home, combo.engine, plan.table, notes)
    spool_lines = _count_spool(home, plan.table, notes)
    return _summarise(plan, combo, reports, released_ns, rows_in_table, spool_lines, notes)


def _context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    # Imported once in the fork server; every writer forked from it starts with the store,
    # pydantic and numpy loaded. Not this module itself: under ``python -m`` each writer
    # re-runs it as ``__mp_main__``, and runpy warns if it is already imported by then.
    # Ignored if the server already runs, which is fine.
    ctx.set_forkserver_preload(["stress.metadb", "numpy", "orjson"])
    return ctx


def _run_writers(
    plan: BenchPlan, combo: Combination, path: Path, home: Path, options: StoreOptions
) -> tuple[list[_WriterReport], int]:
    """Start the writers, release them together, and return their reports and release time."""
    ctx = _context()
    barrier = ctx.Barrier(combo.writers + 1)
    results: Queue[_WriterReport] = ctx.Queue()
    seeds = np.random.SeedSequence(plan.seed).spawn(combo.writers)
    processes = [
        ctx.Process(
            target=_writer_main,
            args=(
                _WriterTask(i, path, home, options, plan.table, plan.rows_per_writer, seeds[i]),
                barrier,
                results,
            ),
            name=f"bench-writer-{i}",
            daemon=True,
        )
        for i in range(combo.writers)
    ]
    for process in processes:
        process.start()
    # A broken barrier (a writer never came up) is not the parent's to raise: writers that
    # are up see it too and report their rows as failed; the missing ones count as died.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=_START_TIMEOUT_S)
    released_ns = _monotonic_ns()
    reports = _collect(results, processes, plan.rows_per_writer)
    for process in processes:
        process.join()
    results.close()
    return reports, released_ns


def _collect(
    results: Queue[_WriterReport], processes: Sequence[BaseProcess], rows: int
) -> list[_WriterReport]:
    reports: dict[int, _WriterReport] = {}
    all_exited = False
    while len(reports) < len(processes):
        try:
            report = results.get(timeout=_POLL_S)
        except queue.Empty:
            if all_exited:
                break  # every writer exited and the pipe stayed empty a full poll: done
            # A writer flushes its report before it exits, so one more poll after the last
            # exit reads everything that was ever sent.
            all_exited = not any(process.is_alive() for process in processes)
            continue
        reports[report.index] = report
    for index, process in enumerate(processes):
        if index not in reports:
            died = _WriterReport(index)
            died.failed = rows
            died.errors[f"WriterDied: exit code {process.exitcode} before reporting"] = rows
            reports[index] = died
    return [reports[index] for index in range(len(processes))]


def _count_rows(path: Path, home: Path, engine: EngineName, table: str, notes: list[str]) -> int:
    try:
        with MetaDb(path, home, StoreOptions(engine=engine)) as db:
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
        errors=dict(sum((report.errors for report in reports), Counter[str]())),
        spool_classes=dict(sum((report.spool_classes for report in reports), Counter[str]())),
        notes=(*accounting.notes, *notes),
    )


def _percentiles_ms(latencies: Sequence[list[float]]) -> tuple[float, float]:
    pooled = np.fromiter((ms for writer in latencies for ms in writer), dtype=np.float64)
    if pooled.size == 0:
        return 0.0, 0.0
    p50, p95 = np.percentile(pooled, [50, 95])  # linear interpolation between ranks
    return round(float(p50), 3), round(float(p95), 3)


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
    prefix = f"writers-{combo.engine}-{combo.connection}-{combo.ids}-{combo.writers}-"
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
            f"| {r.engine} | {r.connection} | {r.ids} | {r.writers} | {r.attempted} "
            f"| {r.landed} | {r.failed} | {r.spooled} | {r.lost} | {r.p50_ms:.2f} "
            f"| {r.p95_ms:.2f} | {r.wall_ms:.0f} | {r.writes_per_s:.0f} |"
        )
    notes = [note for row in rows for note in _row_notes(row)]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


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
        f"python -m stress.bench.writers --writers {row.writers} --engine {row.engine} "
        f"--connection {row.connection} --ids {row.ids} --rows-per-writer {plan.rows_per_writer} "
        f"--table {plan.table} --seed {plan.seed}"
    )


def run_writers_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``stress bench writers``: table (or JSON) to ``out``, progress to stderr.

    Returns the exit code (0 clean, 1 a sqlite row lost or failed writes); raises
    :class:`ConfigError` for a bad flag, for the caller to print (exit 2).
    """
    plan = plan_from_args(args)
    rows = run_plan(plan, _to_stderr)
    summaries = target_summaries(rows)
    if args.json:
        out.write(
            orjson.dumps([row.to_json() for row in rows], option=orjson.OPT_INDENT_2).decode()
        )
        out.write("\n")
        for line in summaries:
            _to_stderr(line)
    else:
        out.write(format_markdown(rows))
        if summaries:
            out.write("\n" + "\n".join(summaries) + "\n")
    failures = sqlite_failures(rows, plan)
    for line in failures:
        _to_stderr(line)
    return 1 if failures else 0


def _to_stderr(line: str) -> None:
    # Looked up at call time, never at import, so tests and the CLI can redirect it.
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stress.bench.writers``: the command until the CLI carries it."""
    parser = argparse.ArgumentParser(
        prog="python -m stress.bench.writers",
        description="Concurrent single-row writers, one process each, per store strategy.",
        epilog=_EXAMPLE.replace("stress bench writers", "python -m stress.bench.writers"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_writers_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_writers_command(args, sys.stdout)
    except ConfigError as exc:
        print(f"ConfigError: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run the copy imported under the package name, so writer processes unpickle
    # stress.bench.writers._writer_main rather than a function of a __main__ module.
    from stress.bench.writers import main as _main

    sys.exit(_main())

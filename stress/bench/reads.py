"""``stress bench reads``: the original's reads under write load.

``writers`` workers write as fast as they can for ``seconds``, alternating messages and clone
dispatches (one ``record`` each), while one reader per query runs it every ``interval_ms``
(the original took 80 samples of each in 20 s): a row count of messages and a grouped
aggregate over clone dispatches. Each query's row gives its samples, median, p95, p99 and max
ms (the query's own time, from call to rows fetched) and its read errors; a reader carries on
after an error, as a diagnostics tool would. The writers' rows are counted in the file
afterwards. The command is :mod:`stress.cli.benchreads`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stress.bench.fanout import Lane, monotonic_ns, pace, run_workers
from stress.bench.figures import (
    StoreChoices,
    StoreFactory,
    Strategy,
    bench_home,
    count_rows,
    count_spool_rows,
    markdown_table,
    percentile_ms,
)
from stress.metadb import MetaDb, StoreOptions

__all__ = [
    "QUERIES",
    "QUERY_JSON_KEYS",
    "WRITE_JSON_KEYS",
    "QuerySample",
    "ReadsPlan",
    "ReadsResult",
    "WriteTally",
    "format_markdown",
    "run_plan",
]

WRITE_TABLES = ("messages", "clone_dispatches")
#: The original's two queries, by the names it printed.
QUERIES: Mapping[str, str] = {
    "messages_count": "SELECT count(*) FROM messages",
    "dispatch_avg": (
        "SELECT json_extract(row_json, '$.status') AS status, count(*) AS n, "
        "avg(json_extract(row_json, '$.exit_code')) AS mean_exit_code "
        "FROM clone_dispatches GROUP BY 1 ORDER BY 1"
    ),
}
QUERY_JSON_KEYS = (
    "engine", "connection", "ids", "mode", "query", "samples", "median_ms", "p95_ms",
    "p99_ms", "max_ms", "read_errors",
)  # fmt: skip
WRITE_JSON_KEYS = (
    "engine", "connection", "ids", "mode", "writers", "messages_rows", "clone_dispatches_rows",
    "spool_rows", "write_errors",
)  # fmt: skip
_STATUSES = ("queued", "started", "finished", "abandoned")


@dataclass(frozen=True)
class ReadsPlan:
    """The original's sizes by default."""

    choices: StoreChoices = field(default_factory=StoreChoices)
    writers: int = 8
    seconds: float = 20.0
    #: Each reader's pace: one query every this many ms (80 samples in 20 s, the original's).
    interval_ms: float = 250.0


@dataclass(frozen=True)
class _Task:
    path: Path
    home: Path
    options: StoreOptions
    store: StoreFactory
    seconds: float
    #: ``None``: a writer; else the name of the query this reader runs.
    query: str | None = None
    interval_ms: float = 250.0


@dataclass
class _Report:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def _died(index: int, message: str) -> _Report:
    return _Report(errors=Counter({f"worker {index}: {message}": 1}))


def _ts(seq: int) -> str:
    return f"2026-04-17T{(seq // 3600) % 24:02d}:{(seq // 60) % 60:02d}:{seq % 60:02d}Z"


def _dispatch_row(seq: int) -> dict[str, Any]:
    status = _STATUSES[seq % len(_STATUSES)]
    return {
        "ts_utc": _ts(seq), "lifecycle": status, "brief": f"brief-{seq % 64}",
        "branch": f"clone-{seq % 16}", "status": status,
        "exit_code": seq % 3 if status == "finished" else None,
    }  # fmt: skip


def _write_row(seq: int) -> tuple[str, dict[str, Any]]:
    if seq % 2:
        return "clone_dispatches", _dispatch_row(seq)
    return "messages", {
        "ts_utc": _ts(seq), "source": "agent", "direction": "inbound",
        "chat_id": f"chat-{seq % 32}", "from_agent": f"agent{seq % 8}", "to_agent": "agent0",
        "body": f"message {seq}",
    }  # fmt: skip


def _write_until(store: MetaDb, lane: Lane, end_ns: int, report: _Report) -> None:
    while monotonic_ns() < end_ns:
        table, row = _write_row(lane.take())
        try:
            outcome = store.record(table, row)
        except Exception as exc:  # counted; the writer carries on
            report.errors[f"{type(exc).__name__}: {exc}"] += 1
            continue
        if outcome.status != "persisted":
            report.errors[f"{outcome.status} ({outcome.error_class}): {outcome.reason}"] += 1


def _read_until(store: MetaDb, task: _Task, lane: Lane, end_ns: int, report: _Report) -> None:
    sql, rate = QUERIES[task.query or ""], 1000.0 / task.interval_ms
    seq = 0
    while pace(lane.start_ns, seq, rate) < end_ns:
        seq += 1
        started = monotonic_ns()
        try:
            store.query(sql)
        except Exception as exc:  # a read error: counted, and the reader carries on
            report.errors[f"{type(exc).__name__}: {exc}"] += 1
            continue
        report.latencies_ms.append((monotonic_ns() - started) / 1e6)


def _worker(task: _Task, lane: Lane) -> _Report:
    report = _Report()
    store = task.store(task.path, task.home, task.options)
    end_ns = lane.start_ns + int(task.seconds * 1e9)
    pace(lane.start_ns, 0, 1.0)  # everyone starts at the scheduled start
    try:
        if task.query is None:
            _write_until(store, lane, end_ns, report)
        else:
            _read_until(store, task, lane, end_ns, report)
    finally:
        store.close()
    return report


@dataclass(frozen=True)
class QuerySample:
    """One row of the table: one query under one strategy."""

    engine: str
    connection: str
    ids: str
    mode: str
    query: str
    samples: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    read_errors: int
    #: The most frequent read error, for the note under the table ("" when none).
    first_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in QUERY_JSON_KEYS}


@dataclass(frozen=True)
class WriteTally:
    """What the writers of one strategy left in the file and the spool."""

    engine: str
    connection: str
    ids: str
    mode: str
    writers: int
    messages_rows: int
    clone_dispatches_rows: int
    spool_rows: int
    write_errors: int

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in WRITE_JSON_KEYS}


@dataclass(frozen=True)
class ReadsResult:
    queries: list[QuerySample]
    writes: list[WriteTally]


def _query_sample(strategy: Strategy, mode: str, name: str, report: _Report) -> QuerySample:
    values = report.latencies_ms
    top = report.errors.most_common(1)
    return QuerySample(
        strategy.engine, strategy.connection, strategy.ids, mode, name, len(values),
        percentile_ms(values, 0.5), percentile_ms(values, 0.95), percentile_ms(values, 0.99),
        round(max(values, default=0.0), 3), report.errors.total(), top[0][0] if top else "",
    )  # fmt: skip


def _run_strategy(plan: ReadsPlan, strategy: Strategy, home: Path) -> ReadsResult:
    choices, path = plan.choices, home / "meta.db"
    MetaDb.open(path, home, choices.plain(strategy)).close()
    base = _Task(path, home, choices.options(strategy), choices.store, plan.seconds)
    readers = [replace(base, query=name, interval_ms=plan.interval_ms) for name in QUERIES]
    reports, _ = run_workers(
        choices.mode, _worker, [base] * plan.writers + readers, _died, choices.preload()
    )
    queries = [
        _query_sample(strategy, choices.mode, name, report)
        for name, report in zip(QUERIES, reports[plan.writers :], strict=True)
    ]
    plain = choices.plain(strategy)
    tally = WriteTally(
        strategy.engine, strategy.connection, strategy.ids, choices.mode, plan.writers,
        count_rows(path, home, plain, ("messages",)) or 0,
        count_rows(path, home, plain, ("clone_dispatches",)) or 0,
        count_spool_rows(home, WRITE_TABLES),
        sum(r.errors.total() for r in reports[: plan.writers]),
    )  # fmt: skip
    return ReadsResult(queries, [tally])


def run_plan(plan: ReadsPlan, progress: Callable[[str], None]) -> ReadsResult:
    """Every strategy in turn, each on a fresh file."""
    queries: list[QuerySample] = []
    writes: list[WriteTally] = []
    for strategy in plan.choices.strategies():
        with bench_home(plan.choices, "reads-") as home:
            one = _run_strategy(plan, strategy, home)
        queries += one.queries
        writes += one.writes
        errors = sum(q.read_errors for q in one.queries)
        tally = one.writes[0]
        progress(
            f"{strategy.label()}: {tally.messages_rows} messages, "
            f"{tally.clone_dispatches_rows} clone dispatches, {errors} read errors"
        )
    return ReadsResult(queries, writes)


def format_markdown(result: ReadsResult) -> str:
    """The original's query table, then what the writers wrote, then any read error."""
    keys = QUERY_JSON_KEYS
    rows = (
        [s.to_json()[k] if not k.endswith("_ms") else f"{getattr(s, k):.3f}" for k in keys]
        for s in result.queries
    )
    text = markdown_table([k.replace("_", " ") for k in keys], rows)
    text += "\n" + markdown_table(
        [k.replace("_", " ") for k in WRITE_JSON_KEYS],
        ([w.to_json()[k] for k in WRITE_JSON_KEYS] for w in result.writes),
    )
    notes = [
        f"- {s.engine} {s.connection} {s.ids} {s.query}: {s.read_errors} read errors, "
        f"most often {s.first_error[:200]}"
        for s in result.queries
        if s.read_errors
    ]
    return text + ("\n" + "\n".join(notes) + "\n" if notes else "")

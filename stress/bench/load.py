"""``stress bench load``: the original's load profile, writer-heavy then reader-heavy.

Writer-heavy: ``writers`` workers share one sequence of ``rate x seconds`` ops paced from the
scheduled start (latency counts from each op's scheduled time, as the original's), cycling 6
ticks, 3 messages and 1 MCP tool call in 10. ``failure`` is ``silent write loss`` when rows
persisted plus spooled fall short of those attempted, else ``tail latency above 1s`` when p99
is over 1 s. Reader-heavy: ``read_rows`` rows in each of messages, token_usage, iroh_events and
mcp_tool_calls (the original's generator), then ``readers`` workers at each target qps over the
original's four analytics queries; ``failure`` is the first error, else ``p99 above 5s``; a
strategy stops at its first failing rate. The command is :mod:`stress.cli.bench`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    "READ_JSON_KEYS",
    "WRITE_JSON_KEYS",
    "LoadPlan",
    "LoadResult",
    "ReadSample",
    "WriteSample",
    "format_markdown",
    "run_plan",
]

WRITE_TABLES = ("ticks", "messages", "mcp_tool_calls")
READ_TABLES = ("messages", "token_usage", "iroh_events", "mcp_tool_calls")
#: The original's four analytics, as the store spells them over JSON rows.
READ_QUERIES = (
    "messages_by_source_direction",
    "token_usage_by_runtime",
    "iroh_events_by_type",
    "mcp_tool_calls_by_source_tool",
)
WRITE_JSON_KEYS = (
    "engine", "connection", "ids", "mode", "target_ops_per_s", "persisted_ops_per_s",
    "rows_persisted", "rows_attempted", "spool_rows", "p50_ms", "p99_ms", "failure",
)  # fmt: skip
READ_JSON_KEYS = (
    "engine", "connection", "ids", "mode", "target_qps", "achieved_qps", "queries",
    "p50_ms", "p99_ms", "failure",
)  # fmt: skip
_IROH_EVENTS = ("connect", "evict", "reconnect", "handshake_refused")
_WRITE_P99_LIMIT_MS = 1000.0
_READ_P99_LIMIT_MS = 5000.0


@dataclass(frozen=True)
class LoadPlan:
    """The original's sizes by default."""

    choices: StoreChoices = field(default_factory=StoreChoices)
    writers: int = 16
    write_seconds: float = 3.0
    write_rates: tuple[int, ...] = (1_000, 10_000)
    readers: int = 4
    read_seconds: float = 5.0
    read_rates: tuple[int, ...] = (1, 2, 4, 8)
    read_rows: int = 20_000


@dataclass(frozen=True)
class _Task:
    path: Path
    home: Path
    options: StoreOptions
    store: StoreFactory
    total: int
    rate: float


@dataclass
class _Report:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done_ns: int = 0


def _died(index: int, message: str) -> _Report:
    return _Report(errors=[f"worker {index}: {message}"], done_ns=monotonic_ns())


# -- writer-heavy --------------------------------------------------------------------------


def _write_row(seq: int) -> tuple[str, dict[str, Any]]:
    """Op ``seq`` of the original's cycle: ticks 0-5, messages 6-8, one MCP tool call."""
    ts = f"2024-03-09T{(seq // 3600) % 24:02d}:{(seq // 60) % 60:02d}:{seq % 60:02d}Z"
    kind = seq % 10
    if kind <= 5:
        return "ticks", {"ts_utc": ts, "source": "ticker", "detail_json": '{"beat":1}'}
    if kind <= 8:
        return "messages", {
            "ts_utc": ts, "source": "agent",
            "direction": "inbound" if seq % 2 == 0 else "outbound",
            "chat_id": "bench-chat", "from_agent": "agent1", "to_agent": "agent0",
            "body": "bench message",
        }  # fmt: skip
    return "mcp_tool_calls", {
        "ts_utc_start": ts, "ts_utc_end": ts, "source": "drive", "tool": "list",
        "agent": "agent0", "duration_ms": 12, "success": True,
        "request_json": '{"page":1}', "response_json": '{"count":1}',
    }  # fmt: skip


def _write_worker(task: _Task, lane: Lane) -> _Report:
    report = _Report()
    store = task.store(task.path, task.home, task.options)
    try:
        while (seq := lane.take()) < task.total:
            scheduled = pace(lane.start_ns, seq, task.rate)
            table, row = _write_row(seq)
            try:
                store.record(table, row)
            except Exception as exc:  # counted; the worker carries on
                report.errors.append(f"{type(exc).__name__}: {exc}")
            report.latencies_ms.append((monotonic_ns() - scheduled) / 1e6)
    finally:
        store.close()
        report.done_ns = monotonic_ns()
    return report


@dataclass(frozen=True)
class WriteSample:
    """One row of the writer-heavy table."""

    engine: str
    connection: str
    ids: str
    mode: str
    target_ops_per_s: int
    persisted_ops_per_s: float
    rows_persisted: int
    rows_attempted: int
    spool_rows: int
    p50_ms: float
    p99_ms: float
    failure: str

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in WRITE_JSON_KEYS}


def _write_sample(plan: LoadPlan, strategy: Strategy, rate: int, home: Path) -> WriteSample:
    choices, path = plan.choices, home / "meta.db"
    MetaDb.open(path, home, choices.plain(strategy)).close()
    total = int(rate * plan.write_seconds)
    task = _Task(path, home, choices.options(strategy), choices.store, total, rate)
    reports, start_ns = run_workers(
        choices.mode, _write_worker, [task] * plan.writers, _died, choices.preload()
    )
    latencies = [ms for r in reports for ms in r.latencies_ms]
    elapsed_s = max((r.done_ns for r in reports), default=start_ns) - start_ns
    persisted = count_rows(path, home, choices.plain(strategy), WRITE_TABLES) or 0
    spooled = count_spool_rows(home)
    p99 = percentile_ms(latencies, 0.99)
    errors = [e for r in reports for e in r.errors]
    if persisted + spooled < len(latencies):
        failure = "silent write loss"
    elif p99 > _WRITE_P99_LIMIT_MS:
        failure = "tail latency above 1s"
    else:
        failure = f"error: {errors[0]}" if errors else "none"
    return WriteSample(
        strategy.engine, strategy.connection, strategy.ids, choices.mode, rate,
        round(persisted / (elapsed_s / 1e9), 1) if elapsed_s > 0 else 0.0,
        persisted, len(latencies), spooled, percentile_ms(latencies, 0.5), p99, failure,
    )  # fmt: skip


# -- reader-heavy --------------------------------------------------------------------------


def _read_rows(table: str, i: int) -> dict[str, Any]:
    """Row ``i`` of ``table`` from the original's read data set."""
    ts = f"2026-04-17T{i % 24:02d}:00:00Z"
    if table == "messages":
        return {
            "ts_utc": ts, "source": "agent" if i % 2 == 0 else "imessage",
            "direction": "inbound" if i % 3 == 0 else "outbound", "chat_id": f"chat-{i % 128}",
            "from_agent": f"agent{i % 8}", "to_agent": "agent0", "body": f"message body {i}",
        }  # fmt: skip
    if table == "token_usage":
        return {
            "ts_utc": ts, "session_id": f"session-{i % 4096}", "agent": f"agent{i % 8}",
            "runtime": "claude" if i % 2 == 0 else "codex",
            "model": "claude-opus" if i % 2 == 0 else "gpt-5.4",
            "input_tokens": 10_000 + i % 1000, "output_tokens": 700 + i % 250,
            "cached_input_tokens": 4_000 + i % 1000, "cost_usd_micros": 25_000 + i % 500,
            "detail_json": '{"source":"bench"}',
        }  # fmt: skip
    if table == "iroh_events":
        return {
            "ts_utc": ts, "event_type": _IROH_EVENTS[i % 4],
            "peer_id_hash": f"{i:016x}", "peer_label": f"peer-{i % 32}",
            "detail_json": '{"source":"bench"}',
        }  # fmt: skip
    return {
        "ts_utc_start": ts, "ts_utc_end": ts, "source": "drive" if i % 2 == 0 else "calendar",
        "tool": "list" if i % 2 == 0 else "insert", "agent": f"agent{i % 8}",
        "duration_ms": 50 + i % 300, "success": i % 16 != 0,
        "error": "timeout" if i % 16 == 0 else "", "timeout_race": i % 32 == 0,
        "request_json": '{"page":1}', "response_json": '{"items":1}',
    }  # fmt: skip


def _seed_reads(path: Path, home: Path, options: StoreOptions, rows: int) -> None:
    with MetaDb.open(path, home, options) as db:
        for table in READ_TABLES:
            for first in range(1, rows + 1, 5000):
                chunk = range(first, min(first + 5000, rows + 1))
                db.record_batch(table, [_read_rows(table, i) for i in chunk])


def _read_worker(task: _Task, lane: Lane) -> _Report:
    report = _Report()
    store = task.store(task.path, task.home, task.options)
    try:
        while (seq := lane.take()) < task.total:
            scheduled = pace(lane.start_ns, seq, task.rate)
            try:
                store.analytics(READ_QUERIES[(seq + lane.index) % len(READ_QUERIES)])
            except Exception as exc:  # the original's reader stops at its first error
                report.errors.append(f"{type(exc).__name__}: {exc}")
                break
            report.latencies_ms.append((monotonic_ns() - scheduled) / 1e6)
    finally:
        store.close()
        report.done_ns = monotonic_ns()
    return report


@dataclass(frozen=True)
class ReadSample:
    """One row of the reader-heavy table."""

    engine: str
    connection: str
    ids: str
    mode: str
    target_qps: int
    achieved_qps: float
    queries: int
    p50_ms: float
    p99_ms: float
    failure: str

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in READ_JSON_KEYS}


def _read_sample(plan: LoadPlan, strategy: Strategy, rate: int, path: Path) -> ReadSample:
    choices = plan.choices
    total = int(rate * plan.read_seconds)
    task = _Task(path, path.parent, choices.options(strategy), choices.store, total, rate)
    reports, start_ns = run_workers(
        choices.mode, _read_worker, [task] * plan.readers, _died, choices.preload()
    )
    latencies = [ms for r in reports for ms in r.latencies_ms]
    elapsed_s = max((r.done_ns for r in reports), default=start_ns) - start_ns
    errors = [e for r in reports for e in r.errors]
    p99 = percentile_ms(latencies, 0.99)
    failure = errors[0] if errors else ("p99 above 5s" if p99 > _READ_P99_LIMIT_MS else "none")
    return ReadSample(
        strategy.engine, strategy.connection, strategy.ids, choices.mode, rate,
        round(len(latencies) / (elapsed_s / 1e9), 2) if elapsed_s > 0 else 0.0,
        len(latencies), percentile_ms(latencies, 0.5), p99, failure,
    )  # fmt: skip


# -- the whole bench -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    writes: list[WriteSample]
    reads: list[ReadSample]


def run_plan(plan: LoadPlan, progress: Callable[[str], None]) -> LoadResult:
    """Every strategy's writer-heavy rates, then its reader-heavy rates up to the first failure."""
    writes: list[WriteSample] = []
    reads: list[ReadSample] = []
    for strategy in plan.choices.strategies():
        for rate in plan.write_rates:
            with bench_home(plan.choices, f"load-write-{rate}-") as home:
                writes.append(_write_sample(plan, strategy, rate, home))
            progress(f"{strategy.label()} write {rate} ops/s: {writes[-1].failure}")
        with bench_home(plan.choices, "load-read-") as home:
            _seed_reads(home / "meta.db", home, plan.choices.plain(strategy), plan.read_rows)
            for rate in plan.read_rates:
                reads.append(_read_sample(plan, strategy, rate, home / "meta.db"))
                progress(f"{strategy.label()} read {rate} qps: {reads[-1].failure}")
                if reads[-1].failure != "none":
                    break
    return LoadResult(writes, reads)


def _cells(sample: WriteSample | ReadSample, keys: Sequence[str]) -> list[object]:
    values: Mapping[str, object] = sample.to_json()
    return [f"{values[k]:.3f}" if k.endswith("_ms") else values[k] for k in keys]


def format_markdown(result: LoadResult) -> str:
    """The original's two tables, with the strategy columns in front."""
    write_keys = WRITE_JSON_KEYS
    read_keys = READ_JSON_KEYS
    return (
        "## writer-heavy\n\n"
        + markdown_table(
            [k.replace("_", " ") for k in write_keys],
            (_cells(s, write_keys) for s in result.writes),
        )
        + "\n## reader-heavy\n\n"
        + markdown_table(
            [k.replace("_", " ") for k in read_keys], (_cells(s, read_keys) for s in result.reads)
        )
    )

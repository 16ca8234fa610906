"""The read side and upkeep: queries, the analytics catalogue, snapshots, retention, stats."""

from __future__ import annotations

import _sqlite3
import ctypes
import hashlib
import json
import tracemalloc
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from metadb_helpers import SAMPLE_ROWS, StoreFactory, rows_by_id, tick

from stress.metadb import (
    ANALYTICS,
    JSON_TABLES,
    STRUCTURED_TABLES,
    EngineName,
    InvalidRecordError,
    MetaDb,
)
from stress.metadb.analytics import SNAPSHOT_CACHE_KIB
from stress.metadb.engines import CONNECTION_CACHE_KIB

AGENTS = ("agent0", "agent1", "agent2", "agent3")
NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)


def _ts(rng: np.random.Generator, days: int = 10) -> str:
    moment = NOW - timedelta(seconds=int(rng.integers(0, days * 86_400)))
    return moment.isoformat(timespec="microseconds")


def _realistic_rows(rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """A few hundred rows over every table the analytics read, with repeated keys."""

    def pick(options: tuple[str, ...]) -> str:
        return str(options[int(rng.integers(len(options)))])

    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _ in range(120):
        rows["messages"].append(
            {
                **SAMPLE_ROWS["messages"],
                "ts_utc": _ts(rng),
                "source": pick(("telegram", "imessage", "email")),
                "direction": pick(("inbound", "outbound")),
                "from_agent": pick(AGENTS),
            }
        )
        rows["token_usage"].append(
            {
                **SAMPLE_ROWS["token_usage"],
                "ts_utc": _ts(rng),
                "session_id": f"s-{int(rng.integers(8))}",
                "agent": pick(AGENTS),
                "runtime": pick(("claude", "codex", "gemini")),
                "input_tokens": int(rng.integers(0, 50_000)),
                "output_tokens": int(rng.integers(0, 5_000)),
                "cost_usd_micros": int(rng.integers(0, 90_000)),
            }
        )
        rows["mcp_tool_calls"].append(
            {
                **SAMPLE_ROWS["mcp_tool_calls"],
                "source": pick(("mcp", "cli")),
                "tool": pick(("read_file", "search", "send")),
                "agent": pick(AGENTS),
                "duration_ms": float(np.round(rng.exponential(30.0), 3)),
                "success": bool(rng.random() < 0.9),
            }
        )
    for i in range(60):
        rows["iroh_events"].append(
            {
                **SAMPLE_ROWS["iroh_events"],
                "ts_utc": _ts(rng),
                "event_type": pick(("connect", "evict", "reconnect", "handshake_refused")),
                "peer_id_hash": hashlib.sha256(f"peer-{i % 7}".encode()).hexdigest()[:16],
            }
        )
        rows["sessions"].append(
            {
                **SAMPLE_ROWS["sessions"],
                "ts_utc": _ts(rng),
                "agent": pick(AGENTS),
                "session_num": i,
                "event": pick(("up", "down", "note")),
            }
        )
        rows["watchdog_events"].append(
            {
                **SAMPLE_ROWS["watchdog_events"],
                "agent": pick(AGENTS),
                "severity": pick(("info", "warn", "error")),
            }
        )
        rows["cli_invocations"].append(
            {**SAMPLE_ROWS["cli_invocations"], "ts_utc": _ts(rng), "host": pick(AGENTS)}
        )
        rows["communication_events"].append(
            {**SAMPLE_ROWS["communication_events"], "ts_utc": _ts(rng)}
        )
        rows["ticks"].append(tick(pick(("watchdog", "cron")), _ts(rng)))
    return rows


@pytest.fixture
def populated(open_store: StoreFactory, engine: EngineName) -> tuple[MetaDb, dict[str, list[Any]]]:
    store = open_store(engine=engine, ids="block")
    rows = _realistic_rows(np.random.default_rng(20240520))
    for table, table_rows in rows.items():
        assert store.record_batch(table, table_rows).persisted
    return store, rows


def test_every_analytics_query_reads_tables_it_declares() -> None:
    for query in ANALYTICS.values():
        assert set(query.tables) <= set(JSON_TABLES)
        for table in query.tables:
            assert table in query.sql
        assert 1 <= query.complexity <= 5


def test_query_with_params_returns_columns_and_rows(
    open_store: StoreFactory, engine: EngineName
) -> None:
    store = open_store(engine=engine)
    for source in ("a", "b", "b", "c"):
        store.record("ticks", tick(source))
    sql = (
        "SELECT json_extract(row_json, '$.source') AS source, count(*) AS n FROM ticks "
        "WHERE json_extract(row_json, '$.source') != ? GROUP BY 1 ORDER BY 1"
    )
    result = store.query(sql, ("a",))
    assert result.columns == ("source", "n")
    assert result.rows == [("b", 2), ("c", 1)]
    named = store.query("SELECT count(*) AS n FROM ticks WHERE id > :low", {"low": 1})
    assert named.columns == ("n",) and named.rows == [(3,)]


def test_original_bench_queries_give_the_right_answers(
    populated: tuple[MetaDb, dict[str, list[Any]]],
) -> None:
    store, rows = populated
    messages = Counter((r["source"], r["direction"]) for r in rows["messages"])
    got = store.analytics("messages_by_source_direction")
    assert got.columns == ("source", "direction", "n")
    assert {(s, d): n for s, d, n in got.rows} == messages

    tokens: Counter[str] = Counter()
    for r in rows["token_usage"]:
        tokens[r["runtime"]] += r["input_tokens"] + r["output_tokens"]
    got = store.analytics("token_usage_by_runtime")
    assert {runtime: total for runtime, total, _ in got.rows} == tokens
    assert [total for _, total, _ in got.rows] == sorted(tokens.values(), reverse=True)

    iroh = Counter(r["event_type"] for r in rows["iroh_events"])
    assert dict(store.analytics("iroh_events_by_type").rows) == iroh

    calls: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows["mcp_tool_calls"]:
        calls[(r["source"], r["tool"])].append(r["duration_ms"])
    got = store.analytics("mcp_tool_calls_by_source_tool")
    assert {(s, t): n for s, t, n, _ in got.rows} == {k: len(v) for k, v in calls.items()}
    for source, tool, _, mean in got.rows:
        assert mean == pytest.approx(sum(calls[(source, tool)]) / len(calls[(source, tool)]))


def test_session_timeline_counts_each_agents_rows(
    populated: tuple[MetaDb, dict[str, list[Any]]],
) -> None:
    store, rows = populated
    usage = Counter(r["agent"] for r in rows["token_usage"])
    calls = Counter(r["agent"] for r in rows["mcp_tool_calls"])
    cli = Counter(r["host"] for r in rows["cli_invocations"])
    ups = [(i + 1, r) for i, r in enumerate(rows["sessions"]) if r["event"] == "up"]
    expected = sorted(
        (
            (-usage[r["agent"]], row_id, r["agent"], r["session_num"])
            for row_id, r in ups  # batch ids follow insertion order on a fresh file
        )
    )[:20]
    got = store.analytics("session_timeline_deep")
    assert got.columns == ("agent", "session_num", "usage_rows", "tool_calls", "cli_calls")
    assert got.rows == [
        (agent, num, usage[agent], calls[agent], cli[agent]) for _, _, agent, num in expected
    ]


@pytest.mark.parametrize("name", list(ANALYTICS))
def test_every_analytics_query_runs_and_snapshot_agrees(
    populated: tuple[MetaDb, dict[str, list[Any]]], name: str
) -> None:
    store, _ = populated
    query = ANALYTICS[name]
    live = store.query(query.sql)
    assert live.rows, f"{name} returned nothing on a populated database"
    assert store.analytics(name) == live
    snapshot = store.snapshot_query(query.sql)
    assert snapshot.columns == live.columns
    assert snapshot.rows == live.rows
    assert store.snapshot_query(query.sql, tables=query.tables) == snapshot


def test_unknown_analytics_name_is_refused(open_store: StoreFactory) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        open_store().analytics("nope")
    assert caught.value.field == "name"


def test_snapshot_query_with_params(open_store: StoreFactory) -> None:
    store = open_store()
    for source in ("a", "b", "b"):
        store.record("ticks", tick(source))
    sql = "SELECT count(*) FROM ticks WHERE json_extract(row_json, '$.source') = ?"
    assert store.snapshot_query(sql, ("b",)).rows == store.query(sql, ("b",)).rows == [(2,)]


def _sqlite_memory() -> ctypes.CDLL:
    """The SQLite library Python's sqlite3 module runs on, for its memory counters."""
    library = ctypes.CDLL(_sqlite3.__file__)
    library.sqlite3_memory_highwater.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    return library


def test_a_snapshot_holds_bounded_memory_however_big_its_table(open_store: StoreFactory) -> None:
    store = open_store()
    pad = "p" * 600
    with store.transaction() as conn:  # 24 MB of rows, written straight in: fast
        conn.executemany(
            "INSERT INTO ticks (row_json) VALUES (?)",
            ((json.dumps({**tick(f"s{i % 7}"), "pad": pad}),) for i in range(40_000)),
        )
    table_bytes = store.query("SELECT sum(length(row_json)) FROM ticks").rows[0][0]
    assert table_bytes > 24_000_000
    sql = "SELECT json_extract(row_json, '$.source'), count(*) FROM ticks GROUP BY 1 ORDER BY 1"
    library = _sqlite_memory()
    library.sqlite3_memory_highwater(1)  # restart the high-water mark from now
    tracemalloc.start()
    try:
        result = store.snapshot_query(sql)
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    sqlite_peak = library.sqlite3_memory_highwater(0)
    assert result.rows == [(f"s{i}", 40_000 // 7 + (i < 40_000 % 7)) for i in range(7)]
    # The copy's page cache and its sorter (each capped by the copy's cache size), the live
    # connection's cache, and statement overhead: never the table (a :memory: copy held it all).
    bound = (2 * SNAPSHOT_CACHE_KIB + CONNECTION_CACHE_KIB) * 1024 + 4 * 2**20
    assert sqlite_peak < bound < table_bytes * 0.6, (sqlite_peak, bound)
    assert python_peak < 4 * 2**20, python_peak  # rows move a chunk at a time


def test_retention_rolls_old_ticks_into_daily_counts(
    open_store: StoreFactory, engine: EngineName
) -> None:
    store = open_store(engine=engine)
    ages_days = [0.5, 3, 6.9, 7.2, 7.6, 8, 8, 9, 30]
    expected_rollup: Counter[tuple[str, str]] = Counter()
    kept: list[str] = []
    for i, age in enumerate(ages_days):
        for source in ("watchdog", "cron") if i % 2 else ("watchdog",):
            moment = NOW - timedelta(days=age)
            ts = moment.isoformat(timespec="microseconds")
            store.record("ticks", tick(source, ts))
            if age > 7:
                expected_rollup[(f"{moment:%Y-%m-%d}", source)] += 1
            else:
                kept.append(ts)

    result = store.apply_retention(now=NOW)
    assert result.rolled_up_ticks == sum(expected_rollup.values())
    assert result.rollup_rows == len(expected_rollup)
    rollups = store.query("SELECT day, source, count FROM tick_rollups").rows
    assert {(day, source): n for day, source, n in rollups} == expected_rollup
    remaining = [json.loads(t)["ts_utc"] for t in rows_by_id(store, "ticks").values()]
    assert sorted(remaining) == sorted(kept)

    again = store.apply_retention(now=NOW)
    assert (again.rolled_up_ticks, again.rollup_rows) == (0, 0)

    # A late old tick for a day already rolled up adds to that day's count.
    late = NOW - timedelta(days=8)
    store.record("ticks", tick("watchdog", late.isoformat()))
    assert store.apply_retention(now=NOW).rolled_up_ticks == 1
    day_count = store.query(
        "SELECT count FROM tick_rollups WHERE day = ? AND source = 'watchdog'",
        (f"{late:%Y-%m-%d}",),
    ).rows
    assert day_count == [(expected_rollup[(f"{late:%Y-%m-%d}", "watchdog")] + 1,)]


def test_checkpoint_integrity_and_stats(open_store: StoreFactory, engine: EngineName) -> None:
    store = open_store(engine=engine, connection="long-lived")
    for table in ("ticks", "messages", "token_usage"):
        store.record_batch(table, [SAMPLE_ROWS[table]] * 7)
    store.upsert_source_cursor("imap", "1")
    store.insert_event("push", {})

    stats = store.stats()
    expected = {table: 0 for table in (*JSON_TABLES, *STRUCTURED_TABLES)}
    expected.update(ticks=7, messages=7, token_usage=7, source_cursors=1, events=1, meta=1, ids=3)
    assert stats.rows == expected
    assert stats.page_size > 0 and stats.page_count > 0 and stats.file_bytes > 0

    passive = store.checkpoint("PASSIVE")
    assert not passive.busy
    assert passive.checkpointed_frames == passive.log_frames
    if engine == "sqlite":
        # The long-lived connection kept the WAL until now. (SQLite reports 0 frames after a
        # TRUNCATE, the default mode, since the log is then empty: hence PASSIVE first.)
        assert passive.log_frames > 0
        assert store.stats().wal_bytes > 0
    truncate = store.checkpoint()
    assert not truncate.busy
    if engine == "sqlite":
        assert store.stats().wal_bytes == 0
    assert store.integrity_check() == ["ok"]
    assert store.integrity_check(quick=True) == ["ok"]
    with pytest.raises(ValueError, match="checkpoint mode"):
        store.checkpoint("SOMETIMES")


def test_bad_sql_is_an_invalid_query_and_keeps_the_connection(open_store: StoreFactory) -> None:
    from stress.metadb import InvalidQueryError

    store = open_store(connection="long-lived")
    store.record("ticks", SAMPLE_ROWS["ticks"])
    with pytest.raises(InvalidQueryError, match="no such table"):
        store.query("SELECT * FROM no_such_table")
    with pytest.raises(InvalidQueryError):
        store.query("SELEC nonsense")
    # The long-lived connection survived the bad queries: the handle still answers.
    assert store.query("SELECT count(*) FROM ticks").rows == [(1,)]


def test_snapshot_finds_tables_next_to_punctuation(open_store: StoreFactory) -> None:
    store = open_store()
    store.record("ticks", SAMPLE_ROWS["ticks"])
    result = store.snapshot_query("SELECT count(*) FROM ticks;")
    assert result.rows == [(1,)]


def test_marking_an_unknown_event_raises(open_store: StoreFactory) -> None:
    store = open_store()
    with pytest.raises(InvalidRecordError, match="no event with id 999"):
        store.mark_event(999, "delivered")

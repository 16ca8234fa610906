"""Several processes at once: concurrent writers, the spool under concurrent appends, and
turso's refusal of a second process.

Workers are spawned (a clean interpreter each, as the original's short-lived processes
were) and released together by a barrier; nothing here waits on the clock.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from metadb_helpers import (
    TURSO_MISSING,
    TURSO_SKIP_REASON,
    replay_worker,
    rows_by_id,
    spool_worker,
    tick,
    turso_second_process,
    write_worker_to_queue,
)

from stress.metadb import (
    ID_STRATEGIES,
    IdStrategy,
    MetaDb,
    StoreOptions,
    iter_spool_lines,
    replay_spool,
    spool_files,
)

#: Generous upper bound on a worker's life; only reached if something hangs.
JOIN_TIMEOUT_S = 120


def _context() -> Any:
    return multiprocessing.get_context("spawn")


def _run(target: Any, args_per_worker: list[tuple[Any, ...]]) -> None:
    ctx = _context()
    processes = [ctx.Process(target=target, args=args) for args in args_per_worker]
    for process in processes:
        process.start()
    for process in processes:
        process.join(JOIN_TIMEOUT_S)
        assert process.exitcode == 0, f"worker {process.pid} exited with {process.exitcode}"


@pytest.mark.slow
@pytest.mark.parametrize("ids", ID_STRATEGIES)
def test_eight_processes_write_concurrently_without_lock_errors(
    tmp_path: Path, ids: IdStrategy
) -> None:
    """Eight processes on a brand-new file (all racing to create it), default busy timeout."""
    workers, singles, batch = 8, 40, 10
    path = tmp_path / "meta.db"
    ctx = _context()
    barrier = ctx.Barrier(workers)
    queue = ctx.Queue()
    processes = []
    for worker in range(workers):
        # Half the workers keep one connection, half open one per write; small id blocks so
        # the block strategy leases many times under contention.
        options = StoreOptions(
            ids=ids,
            connection="long-lived" if worker % 2 else "per-op",
            id_block_size=16,
        )
        args = (queue, str(path), str(tmp_path), options, worker, singles, batch, barrier)
        processes.append(ctx.Process(target=write_worker_to_queue, args=args))
    for process in processes:
        process.start()
    reports = [queue.get(timeout=JOIN_TIMEOUT_S) for _ in processes]
    for process in processes:
        process.join(JOIN_TIMEOUT_S)
        assert process.exitcode == 0

    outcomes = [outcome for report in reports for outcome in report]
    assert len(outcomes) == workers * (singles + batch)
    assert Counter((status, error) for status, _, error in outcomes) == {
        ("persisted", None): workers * (singles + batch)
    }
    reported_ids = [row_id for _, row_id, _ in outcomes]
    assert None not in reported_ids
    assert len(set(reported_ids)) == len(reported_ids)
    assert spool_files(tmp_path) == []

    with MetaDb(path, tmp_path) as store:
        stored = rows_by_id(store, "ticks")
        assert sorted(stored) == sorted(reported_ids)
        assert store.integrity_check() == ["ok"]


@pytest.mark.slow
def test_sixteen_processes_append_whole_spool_lines(tmp_path: Path) -> None:
    workers, lines = 16, 1_000
    barrier = _context().Barrier(workers)
    _run(spool_worker, [(str(tmp_path), worker, lines, barrier) for worker in range(workers)])

    (path,) = spool_files(tmp_path)
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    seen: Counter[tuple[int, int]] = Counter()
    pids: set[int] = set()
    for number, line in enumerate(raw.split(b"\n")[:-1], start=1):
        record = orjson.loads(line)  # raises on a torn or interleaved line
        assert isinstance(record, dict), number
        inner = orjson.loads(record["row_json"])
        assert inner["seq"] == record["data"]["seq"]
        seen[(record["pid"], record["data"]["seq"])] += 1
        pids.add(record["pid"])
    assert sum(seen.values()) == workers * lines
    assert len(pids) == workers
    assert set(seen.values()) == {1}
    assert {seq for _, seq in seen} == set(range(lines))
    # The reader the replay uses agrees: no line flagged.
    assert all(line.record is not None for line in iter_spool_lines(path))


#: The table each id strategy writes in the concurrent-replay test: strategies are never mixed
#: on one table (rowid's max+1 would take ids a block lease holds).
_REPLAY_TABLES: dict[IdStrategy, str] = {"rowid": "ticks", "block": "crashes"}


def _marked(table: str, marker: str) -> dict[str, Any]:
    if table == "ticks":
        return tick(marker)
    return {"ts_utc": "2024-05-01T12:00:00+00:00", "kind": "panic", "agent": marker}


def _marker(table: str, row_json: str) -> str:
    return str(orjson.loads(row_json)["source" if table == "ticks" else "agent"])


def _spool_under_a_held_lock(path: Path, home: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Write rows and events while another connection holds the write lock past the busy
    timeout, so every one goes to the spool; return the markers written per table (the row
    before the lock included) and the event payloads.

    The row written before the lock is one a replay must not disturb, and for the block
    strategy it takes the lease its spooled rows reserve their ids from; rowid's carry none.
    """
    stores = {
        ids: MetaDb.open(path, home, StoreOptions(ids=ids, busy_timeout_ms=100, id_block_size=2048))
        for ids in _REPLAY_TABLES
    }
    markers: dict[str, list[str]] = {table: ["before"] for table in _REPLAY_TABLES.values()}
    for ids, table in _REPLAY_TABLES.items():
        assert stores[ids].record(table, _marked(table, "before")).persisted
    payloads: list[str] = []
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for batch in range(8):
            ids = "block" if batch % 4 == 0 else "rowid"
            table = _REPLAY_TABLES[ids]
            names = [f"b{batch}-{seq}" for seq in range(400)]
            outcome = stores[ids].record_batch(table, [_marked(table, name) for name in names])
            assert outcome.status == "spooled"
            markers[table].extend(names)
        for seq in range(6):
            assert stores["rowid"].insert_event("push", {"seq": seq}).status == "spooled"
            payloads.append(f'{{"seq":{seq}}}')
    finally:
        holder.close()
        for store in stores.values():
            store.close()
    return markers, payloads


def _digest(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(texts)).encode()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("replayers", [2, 4])
def test_concurrent_replays_ingest_every_spooled_row_exactly_once(
    tmp_path: Path, replayers: int
) -> None:
    """Replays started together by a barrier split the spool's lines; none is applied twice."""
    path = tmp_path / "meta.db"
    markers, payloads = _spool_under_a_held_lock(path, tmp_path)
    (spool,) = spool_files(tmp_path)
    spooled = [line.record for line in iter_spool_lines(spool) if line.record is not None]
    assert len(spooled) == 8 * 400 + len(payloads)
    reserved = {r["id"]: r["row_json"] for r in spooled if r["id"] is not None}
    assert len(reserved) == 800  # the two block-strategy batches

    ctx = _context()
    barrier, queue = ctx.Barrier(replayers), ctx.Queue()
    _run(replay_worker, [(str(path), str(tmp_path), barrier, queue)] * replayers)
    reports = [queue.get(timeout=JOIN_TIMEOUT_S) for _ in range(replayers)]

    assert all(report["problems"] == [] for report in reports)
    # Each line was taken by exactly one replay, and each took it once.
    assert sum(report["lines_read"] for report in reports) == len(spooled)
    assert sum(report["ingested"] for report in reports) == len(spooled)
    assert sum(report["duplicates"] for report in reports) == 0
    with MetaDb(path, tmp_path) as store:
        for table, written in markers.items():
            stored = rows_by_id(store, table)
            # Every row once: none lost, none doubled; and byte for byte what was spooled.
            assert Counter(_marker(table, text) for text in stored.values()) == Counter(written)
            landed = [text for text in stored.values() if _marker(table, text) != "before"]
            sent = [r["row_json"] for r in spooled if r["table"] == table]
            assert _digest(landed) == _digest(sent)
        crashes = rows_by_id(store, "crashes")
        assert all(crashes[row_id] == text for row_id, text in reserved.items())
        events = store.query("SELECT payload_json FROM events").rows
        assert sorted(text for (text,) in events) == sorted(payloads)
        assert store.source_cursor(f"spool:{spool.name}") == str(len(spooled))
        assert replay_spool(store).ingested == 0


@pytest.mark.skipif(TURSO_MISSING, reason=TURSO_SKIP_REASON)
def test_turso_second_process_is_spooled_as_engine_refused(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    first = MetaDb.open(path, tmp_path, StoreOptions(engine="turso", connection="long-lived"))
    kept = first.record("ticks", tick("first-process"))
    assert kept.persisted

    ctx = _context()
    queue = ctx.Queue()
    process = ctx.Process(target=turso_second_process, args=(str(path), str(tmp_path), queue))
    process.start()
    report = queue.get(timeout=JOIN_TIMEOUT_S)
    process.join(JOIN_TIMEOUT_S)
    assert process.exitcode == 0
    assert "raised" not in report, report["raised"]
    assert report["outcomes"] == [("spooled", "engine_refused")] * 3

    lines = [line.record for spool in spool_files(tmp_path) for line in iter_spool_lines(spool)]
    assert len(lines) == 4  # one row, a batch of two, one cursor
    assert all(line is not None and line["pid"] == report["pid"] for line in lines)
    assert all(line is not None and line["error_class"] == "engine_refused" for line in lines)
    assert list(rows_by_id(first, "ticks")) == [kept.id]

    # Once the first process lets go, the refused writes are replayed: nothing was lost.
    replayed = replay_spool(first)
    assert replayed.ingested == 4
    assert len(rows_by_id(first, "ticks")) == 4
    assert first.source_cursor("second") == "1"
    first.close()

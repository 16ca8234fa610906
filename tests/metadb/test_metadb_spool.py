"""Store-side failures: writes that cannot land go to the spool, and replay restores them.

A lock held by another connection past a short busy timeout, and a read-only handle, are
the two failures that can be produced on demand; the others are checked through
``classify_failure`` on representative messages.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from metadb_helpers import StoreFactory, rows_by_id, tick

from stress.metadb import (
    CONNECTION_MODES,
    ERROR_CLASSES,
    ID_STRATEGIES,
    BatchOutcome,
    ConnectionMode,
    IdStrategy,
    MetaDb,
    StoreOptions,
    WriteOutcome,
    iter_spool_lines,
    replay_spool,
    spool_files,
    spool_path,
)
from stress.metadb.engines import classify_failure, is_store_failure
from stress.metadb.spool import SpoolEntry, append_entries

SHORT_TIMEOUT_MS = 100


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection, as a stuck writer would."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.close()  # rolls back and releases the lock


def spooled_records(home: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in spool_files(home):
        for line in iter_spool_lines(path):
            assert line.record is not None, line.problem
            records.append(line.record)
    return records


@pytest.mark.parametrize("connection", CONNECTION_MODES)
@pytest.mark.parametrize("ids", ID_STRATEGIES)
def test_lock_past_busy_timeout_spools_and_replay_restores(
    open_store: StoreFactory,
    db_path: Path,
    tmp_path: Path,
    ids: IdStrategy,
    connection: ConnectionMode,
) -> None:
    store = open_store(ids=ids, connection=connection, busy_timeout_ms=SHORT_TIMEOUT_MS)
    # Written before the lock: for the block strategy this takes the lease the spooled
    # rows will draw their reserved ids from.
    before = store.record("ticks", tick("before"))
    assert before.persisted

    with write_lock_held(db_path):
        single = store.record("ticks", tick("single"))
        batch = store.record_batch("ticks", [tick("batch-0"), tick("batch-1"), tick("batch-2")])

    for outcome in (single, batch):
        assert outcome.status == "spooled"
        assert outcome.error_class == "lock_timeout"
        assert outcome.reason is not None and "locked" in outcome.reason
    if ids == "block":
        # The lease was taken before the lock: the ids are reserved and travel with the rows.
        assert single.id is not None and len(batch.ids) == 3
        reserved: list[int | None] = [single.id, *batch.ids]
        assert len(set(reserved)) == 4 and before.id not in reserved
    else:
        # row: the reservation itself needed the lock; rowid: the engine never assigned one.
        assert single.id is None and batch.ids == ()
        reserved = [None] * 4

    lines = spooled_records(tmp_path)
    assert len(lines) == 4
    expected_sources = ["single", "batch-0", "batch-1", "batch-2"]
    for line, source, row_id in zip(lines, expected_sources, reserved, strict=True):
        assert line["table"] == "ticks"
        assert line["op"] == "insert"
        assert line["error_class"] == "lock_timeout"
        assert "locked" in line["error"]
        assert line["id"] == row_id
        assert json.loads(line["row_json"]) == {**tick(source), "detail_json": "{}"}

    stored_before = rows_by_id(store, "ticks")
    assert len(stored_before) == 1

    result = replay_spool(store)
    assert (result.files, result.lines_read, result.ingested) == (1, 4, 4)
    assert result.problems == [] and result.duplicates == 0
    stored = rows_by_id(store, "ticks")
    assert len(stored) == 5
    texts = Counter(stored.values())
    for line in lines:
        assert texts[line["row_json"]] == 1  # present exactly once, byte for byte
        if line["id"] is not None:
            assert stored[line["id"]] == line["row_json"]
    assert sorted(row_id for _, row_id in result.inserted) == sorted(set(stored) - {before.id})

    again = replay_spool(store)
    assert (again.ingested, again.lines_read, again.duplicates) == (0, 0, 0)
    assert rows_by_id(store, "ticks") == stored

    # The store keeps working after a replay: new ids never collide with replayed ones.
    after = store.record("ticks", tick("after"))
    after_batch = store.record_batch("ticks", [tick("after-0"), tick("after-1")])
    assert after.persisted and after_batch.persisted
    assert after.id not in stored and not set(after_batch.ids) & set(stored)
    assert len(rows_by_id(store, "ticks")) == 8


def test_control_writes_spool_under_a_lock_and_replay(
    open_store: StoreFactory, db_path: Path, tmp_path: Path
) -> None:
    store = open_store(busy_timeout_ms=SHORT_TIMEOUT_MS)
    event_id = store.insert_event("push", {"n": 1}).id
    assert event_id is not None
    with write_lock_held(db_path):
        outcomes = [
            store.upsert_source_cursor("imap", "uid:9"),
            store.insert_event("push", {"n": 2}),
            store.mark_event(event_id, "failed", "peer gone"),
        ]
    assert [(o.status, o.error_class) for o in outcomes] == [("spooled", "lock_timeout")] * 3
    assert outcomes[2].id == event_id
    assert [line["op"] for line in spooled_records(tmp_path)] == [
        "cursor_upsert",
        "event_insert",
        "event_mark",
    ]
    assert store.source_cursor("imap") is None

    assert replay_spool(store).ingested == 3
    assert store.source_cursor("imap") == "uid:9"
    events = store.query("SELECT id, payload_json, status, reason FROM events ORDER BY id").rows
    assert [(json.loads(p), s, r) for _, p, s, r in events] == [
        ({"n": 1}, "failed", "peer gone"),
        ({"n": 2}, "pending", None),
    ]


def _entry(source: str, row_id: int | None = None) -> SpoolEntry:
    row_json = json.dumps(tick(source))
    return SpoolEntry("ticks", "insert", "lock_timeout", "database is locked", row_id, row_json)


def test_torn_final_line_is_left_for_later(open_store: StoreFactory, tmp_path: Path) -> None:
    store = open_store()
    path = append_entries(tmp_path, [_entry("a"), _entry("b")], "sqlite")
    whole = _entry("c").to_json("2024-05-01T00:00:00+00:00", "sqlite") + b"\n"
    with path.open("ab") as handle:
        handle.write(whole[:40])  # a writer caught mid-append

    first = replay_spool(store)
    assert (first.lines_read, first.ingested, first.problems) == (2, 2, [])
    assert replay_spool(store).ingested == 0  # still torn: still left alone

    with path.open("ab") as handle:
        handle.write(whole[40:])
    second = replay_spool(store)
    assert (second.lines_read, second.ingested, second.problems) == (1, 1, [])
    sources = sorted(json.loads(t)["source"] for t in rows_by_id(store, "ticks").values())
    assert sources == ["a", "b", "c"]


def test_garbage_lines_are_reported_and_skipped(open_store: StoreFactory, tmp_path: Path) -> None:
    store = open_store()
    path = append_entries(tmp_path, [_entry("a")], "sqlite")
    with path.open("ab") as handle:
        handle.write(b"\x00\x01 not json at all\n")
        handle.write(b"[1, 2, 3]\n")
        handle.write(b'{"op": "teleport", "table": "ticks"}\n')
        handle.write(b'{"op": "event_mark", "id": 1}\n')  # JSON, but no data
        handle.write(b'{"op": "insert", "table": "nope", "row_json": "{}"}\n')
    append_entries(tmp_path, [_entry("b")], "sqlite")

    result = replay_spool(store)
    assert result.ingested == 2
    assert result.lines_read == 7
    assert [problem.split(":")[1] for problem in result.problems] == ["2", "3", "4", "5", "6"]
    assert all(problem.startswith(path.name) for problem in result.problems)
    sources = sorted(json.loads(t)["source"] for t in rows_by_id(store, "ticks").values())
    assert sources == ["a", "b"]
    # Reported once: the cursor moved past them with the rows they sat between.
    assert replay_spool(store).problems == []


def test_replayed_row_with_reserved_id_that_landed_is_a_duplicate(
    open_store: StoreFactory, tmp_path: Path
) -> None:
    store = open_store(ids="row")
    landed = store.record("ticks", tick("landed"))
    assert landed.id is not None
    append_entries(tmp_path, [_entry("landed", landed.id)], "sqlite")
    result = replay_spool(store)
    assert (result.ingested, result.duplicates) == (0, 1)
    assert len(rows_by_id(store, "ticks")) == 1


@pytest.mark.parametrize("connection", CONNECTION_MODES)
@pytest.mark.parametrize("ids", ID_STRATEGIES)
def test_read_only_handle_spools_writes_instead_of_losing_them(
    open_store: StoreFactory,
    db_path: Path,
    tmp_path: Path,
    ids: IdStrategy,
    connection: ConnectionMode,
) -> None:
    writer = open_store()
    event_id = writer.insert_event("push", {}).id
    assert event_id is not None
    reader = MetaDb(db_path, tmp_path, StoreOptions(read_only=True, ids=ids, connection=connection))

    assert reader.query("SELECT count(*) FROM events").rows == [(1,)]
    outcomes: list[WriteOutcome | BatchOutcome] = [
        reader.record("ticks", tick("ro")),
        reader.record_batch("ticks", [tick("ro-0"), tick("ro-1")]),
        reader.upsert_source_cursor("imap", "uid:1"),
        reader.mark_event(event_id, "delivered"),
    ]
    reader.close()
    for outcome in outcomes:
        assert (outcome.status, outcome.error_class) == ("spooled", "read_only")
    assert writer.stats().rows["ticks"] == 0
    assert len(spooled_records(tmp_path)) == 5

    assert replay_spool(writer).ingested == 5
    sources = sorted(json.loads(t)["source"] for t in rows_by_id(writer, "ticks").values())
    assert sources == ["ro", "ro-0", "ro-1"]
    assert writer.source_cursor("imap") == "uid:1"
    assert writer.query("SELECT status FROM events").rows == [("delivered",)]


def test_spool_path_is_dated_under_home_logs(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2024, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    # 23:30 at UTC-2 is already the next day in UTC.
    assert spool_path(tmp_path, moment) == tmp_path / "logs" / "meta-db-errors-2024-05-02.jsonl"
    written = append_entries(tmp_path, [_entry("a")], "sqlite", now=moment.astimezone(UTC))
    assert written == spool_path(tmp_path, moment)
    assert spool_files(tmp_path) == [written]


def _op_error(message: str) -> sqlite3.OperationalError:
    return sqlite3.OperationalError(message)


CLASSIFIED: list[tuple[BaseException, float, str]] = [
    (_op_error("database is locked"), 10_000.0, "lock_timeout"),
    (_op_error("database is locked"), 2.0, "busy"),
    (_op_error("database is busy"), 9_500.0, "lock_timeout"),
    (sqlite3.OperationalError("database or disk is full"), 0.0, "disk_full"),
    (_op_error("attempt to write a readonly database"), 0.0, "read_only"),
    (_op_error("Parse error: Cannot execute write statement in query_only mode"), 0, "read_only"),
    (_op_error("disk I/O error"), 0.0, "io_error"),
    (_op_error("unable to open database file"), 0.0, "io_error"),
    (OSError(5, "Input/output error"), 0.0, "io_error"),
    (sqlite3.DatabaseError("database disk image is malformed"), 0.0, "corrupt"),
    (sqlite3.DatabaseError("file is not a database"), 0.0, "corrupt"),
    (
        _op_error(
            "Locking error: Failed locking file 'meta.db'. File is locked by another process"
        ),
        0.0,
        "engine_refused",
    ),
    # pyturso's refusals of a mixed open of its multi-process WAL, word for word as its
    # library spells them (not produced on Linux by pyturso 0.8.3, which opens both ways).
    (
        _op_error(
            "Failed opening database 'meta.db'. Database is already open with experimental "
            "multiprocess WAL in another process"
        ),
        0.0,
        "engine_refused",
    ),
    (
        _op_error(
            "Failed opening database 'meta.db'. Database is already open without experimental "
            "multiprocess WAL in another process"
        ),
        0.0,
        "engine_refused",
    ),
    (_op_error("VACUUM is incompatible with experimental multiprocess WAL"), 0.0, "engine_refused"),
    (_op_error("something new and strange"), 0.0, "other"),
]


@pytest.mark.parametrize(("exc", "waited_ms", "expected"), CLASSIFIED)
def test_classify_failure(exc: BaseException, waited_ms: float, expected: str) -> None:
    assert classify_failure(exc, waited_ms, 10_000) == expected
    assert expected in ERROR_CLASSES
    assert is_store_failure(exc)


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.IntegrityError("UNIQUE constraint failed: ticks.id"),
        sqlite3.ProgrammingError("Cannot operate on a closed database."),
        KeyError("x"),
        ValueError("bad"),
    ],
)
def test_programming_errors_are_not_store_failures(exc: BaseException) -> None:
    assert not is_store_failure(exc)


def test_write_is_failed_not_silent_when_the_spool_cannot_be_written(
    open_store: StoreFactory, db_path: Path, tmp_path: Path
) -> None:
    store = open_store(busy_timeout_ms=SHORT_TIMEOUT_MS)
    (tmp_path / "logs").write_text("a file where the spool folder should be")
    with write_lock_held(db_path):
        outcome = store.record("ticks", tick("lost"))
    assert outcome.status == "failed" and not outcome.persisted
    assert outcome.error_class == "lock_timeout"
    assert outcome.reason is not None and "spool append failed too" in outcome.reason


def test_a_replay_applies_only_lines_after_the_cursor_it_reads_under_the_write_lock(
    open_store: StoreFactory, db_path: Path, tmp_path: Path
) -> None:
    """Another replay moves the cursor between this one's first look and its transaction."""
    path = append_entries(tmp_path, [_entry(source) for source in "abcde"], "sqlite")
    source = f"spool:{path.name}"
    other = open_store()
    seen: list[str] = []

    def other_replay_overtakes(sql: str) -> None:
        # After this replay's first look at the cursor (outside any transaction) and before
        # its write transaction starts, a second replay commits lines 1 and 2.
        if "FROM source_cursors" in sql and not seen:
            seen.append("looked")
        elif sql == "BEGIN IMMEDIATE" and seen == ["looked"]:
            seen.append("overtaken")
            assert other.upsert_source_cursor(source, "2").persisted

    store = open_store(trace=other_replay_overtakes)
    result = replay_spool(store)
    assert seen == ["looked", "overtaken"]
    assert (result.lines_read, result.ingested, result.applied_elsewhere) == (3, 3, 2)
    sources = sorted(json.loads(t)["source"] for t in rows_by_id(store, "ticks").values())
    assert sources == ["c", "d", "e"]  # a and b were the other replay's, not applied twice
    assert store.source_cursor(source) == "5"


_BIG_APPENDS = """
import sys
from pathlib import Path
from stress.metadb.spool import SpoolEntry, append_entries
row = '{"source": "' + "x" * 1_000_000 + '"}'
entries = [SpoolEntry("ticks", "insert", "lock_timeout", "locked", None, row)] * 32
print("appending", flush=True)
while True:
    append_entries(Path(sys.argv[1]), entries, "sqlite")
"""


def _torn_by_a_kill(home: Path) -> Path:
    """A spool file whose last line a real SIGKILL cut part-way through its write."""
    for _ in range(20):
        with subprocess.Popen(
            [sys.executable, "-c", _BIG_APPENDS, str(home)], stdout=subprocess.PIPE, text=True
        ) as writer:
            assert writer.stdout is not None and writer.stdout.readline() == "appending\n"
            path = spool_path(home)
            while not path.exists() or path.stat().st_size < 40_000_000:
                time.sleep(0.005)
            writer.kill()
        if path.read_bytes()[-1:] != b"\n":
            return path
        path.unlink()
    raise AssertionError("no kill landed inside a write in 20 tries")


@pytest.mark.slow
def test_an_append_after_a_writer_killed_mid_write_is_whole(tmp_path: Path) -> None:
    path = _torn_by_a_kill(tmp_path)
    torn_at = path.read_bytes().rfind(b"\n") + 1
    append_entries(tmp_path, [_entry("after")], "sqlite")
    data = path.read_bytes()
    # The dead writer's part line is gone (it was never acknowledged); the new line is whole.
    assert data.rfind(b"\n", 0, len(data) - 1) + 1 == torn_at
    lines = list(iter_spool_lines(path))
    assert all(line.problem is None for line in lines)
    assert lines[-1].record is not None
    assert json.loads(lines[-1].record["row_json"])["source"] == "after"

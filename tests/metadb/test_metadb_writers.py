"""Writers on a healthy store: record_<table>, batches, cursors and delivery events.

Parametrized over the engines (turso skipped with a reason when pyturso is missing), the id
strategies and the connection modes, since every combination must give the same rows.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from metadb_helpers import SAMPLE_ROWS, StoreFactory, rows_by_id, tick

from stress.metadb import (
    CONNECTION_MODES,
    ID_STRATEGIES,
    JSON_TABLES,
    ConnectionMode,
    EngineName,
    IdStrategy,
    InvalidRecordError,
    MetaDb,
    StoreOptions,
    UnknownTableError,
    model_for,
)


def _expected(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The stored object: the row plus the model's defaults for the fields it left out."""
    fields = model_for(table).model_fields
    expected = {name: info.default for name, info in fields.items() if not info.is_required()}
    expected.update(row)
    assert set(expected) == set(fields)
    return expected


@pytest.mark.parametrize("table", JSON_TABLES)
def test_record_table_writer_persists_a_valid_row(
    open_store: StoreFactory, engine: EngineName, table: str
) -> None:
    store = open_store(engine=engine)
    writer = getattr(store, f"record_{table}")
    outcome = writer(SAMPLE_ROWS[table])
    assert outcome.status == "persisted" and outcome.persisted
    assert outcome.table == table
    assert isinstance(outcome.id, int)
    assert outcome.error_class is None
    rows = rows_by_id(store, table)
    assert list(rows) == [outcome.id]
    assert json.loads(rows[outcome.id]) == _expected(table, SAMPLE_ROWS[table])


def test_record_stores_the_bounded_source_error_class(open_store: StoreFactory) -> None:
    store = open_store()
    row = {**SAMPLE_ROWS["source_errors"], "error_class": "EHOSTUNREACH"}
    outcome = store.record_source_errors(row)
    assert json.loads(rows_by_id(store, "source_errors")[outcome.id or 0])["error_class"] == (
        "unknown"
    )


def test_record_rejects_bad_rows_and_writes_nothing(open_store: StoreFactory) -> None:
    store = open_store()
    with pytest.raises(InvalidRecordError) as caught:
        store.record_token_usage({**SAMPLE_ROWS["token_usage"], "input_tokens": -1})
    assert caught.value.field == "input_tokens"
    with pytest.raises(InvalidRecordError) as caught:
        store.record_batch("ticks", [tick("ok"), {"ts_utc": "x"}])
    assert caught.value.field == "source"
    with pytest.raises(UnknownTableError):
        store.record("nope", {"ts_utc": "x"})
    with pytest.raises(UnknownTableError):
        store.record_batch("nope", [])
    assert store.stats().rows["token_usage"] == 0
    assert store.stats().rows["ticks"] == 0


@pytest.mark.parametrize("connection", CONNECTION_MODES)
@pytest.mark.parametrize("ids", ID_STRATEGIES)
def test_record_batch_writes_n_rows_with_the_ids_it_returns(
    open_store: StoreFactory, engine: EngineName, ids: IdStrategy, connection: ConnectionMode
) -> None:
    store = open_store(engine=engine, ids=ids, connection=connection, id_block_size=8)
    single = store.record("ticks", tick("first"))
    batches = [
        [tick(f"a{i}") for i in range(5)],
        [tick(f"b{i}") for i in range(20)],  # more than one id block
        [tick("c0")],
    ]
    written: dict[int, str] = {single.id or 0: "first"}
    for rows in batches:
        outcome = store.record_batch("ticks", rows)
        assert outcome.status == "persisted"
        assert outcome.count == len(rows) == len(outcome.ids)
        assert not set(outcome.ids) & set(written)
        written.update(zip(outcome.ids, (row["source"] for row in rows), strict=True))
    stored = rows_by_id(store, "ticks")
    assert {row_id: json.loads(text)["source"] for row_id, text in stored.items()} == written


def test_record_batch_of_nothing_is_a_persisted_no_op(open_store: StoreFactory) -> None:
    store = open_store()
    outcome = store.record_batch("ticks", [])
    assert (outcome.status, outcome.count, outcome.ids) == ("persisted", 0, ())
    assert store.stats().rows["ticks"] == 0


def test_record_batch_is_one_transaction(open_store: StoreFactory) -> None:
    statements: list[str] = []
    store = open_store(ids="block", trace=statements.append)
    statements.clear()  # the cold open migrated in a transaction of its own
    store.record_batch("ticks", [tick(f"r{i}") for i in range(50)])
    begins = [s for s in statements if s.startswith("BEGIN")]
    commits = [s for s in statements if s == "COMMIT"]
    # One transaction to lease a block of ids, one for the rows.
    assert len(begins) == len(commits) == 2
    assert store.stats().rows["ticks"] == 50


def test_block_ids_stay_unique_across_two_handles(
    open_store: StoreFactory, engine: EngineName
) -> None:
    first = open_store(engine=engine, ids="block", id_block_size=4)
    second = open_store(engine=engine, ids="block", id_block_size=4, connection="long-lived")
    ids: list[int] = []
    for i in range(10):
        for store in (first, second):
            outcome = store.record("ticks", tick(f"h{i}"))
            ids.append(outcome.id or 0)
        ids.extend(second.record_batch("ticks", [tick("x"), tick("y"), tick("z")]).ids)
    assert len(ids) == len(set(ids)) == 50
    assert sorted(rows_by_id(first, "ticks")) == sorted(ids)


def _write_in_child(path: str, home: str, queue: Any) -> None:
    """A forked child's own handle on the file: it must lease a block of its own."""
    with MetaDb(Path(path), Path(home), StoreOptions(ids="block", id_block_size=4)) as store:
        queue.put(store.record("ticks", tick("child")).id)


def test_a_forked_child_leases_its_own_block_not_its_parents(
    open_store: StoreFactory, db_path: Path, tmp_path: Path
) -> None:
    # The lease table is inherited by fork and emptied in the child: it must lease its own.
    parent = open_store(ids="block", id_block_size=4)
    first = parent.record("ticks", tick("p0")).id
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_write_in_child, args=(str(db_path), str(tmp_path), queue))
    child.start()
    child_id = queue.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    rest = [parent.record("ticks", tick(f"p{i}")).id for i in range(1, 4)]
    ids = [first, *rest, child_id]
    assert len(set(ids)) == 5, ids  # the parent's lease of 4 and the child's first id
    assert sorted(rows_by_id(parent, "ticks")) == sorted(ids)


def test_threads_sharing_a_lease_never_draw_the_same_id(
    open_store: StoreFactory, switch_often: None
) -> None:
    # Single ids are drawn from a shared lease without a lock, renewals and batches take it:
    # eight threads of one process, each with its own handle, on blocks of 4 ids that run dry
    # every few writes, with the interpreter switching threads every few bytecodes.
    stores = [open_store(ids="block", id_block_size=4, connection="long-lived") for _ in range(8)]
    ids: list[list[int]] = [[] for _ in stores]

    def write(store: MetaDb, mine: list[int]) -> None:
        for i in range(600):
            if i % 10 == 9:
                mine.extend(store.record_batch("ticks", [tick("b"), tick("b"), tick("b")]).ids)
            else:
                mine.append(store.record("ticks", tick("s")).id or 0)

    threads = [
        threading.Thread(target=write, args=(store, mine))
        for store, mine in zip(stores, ids, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [row_id for mine in ids for row_id in mine]
    assert len(every) == 8 * (540 + 60 * 3)
    assert len(set(every)) == len(every)
    assert sorted(rows_by_id(stores[0], "ticks")) == sorted(every)


def test_source_cursor_upsert_and_read(open_store: StoreFactory, engine: EngineName) -> None:
    store = open_store(engine=engine)
    assert store.source_cursor("imap") is None
    first = store.upsert_source_cursor("imap", "uid:10")
    assert first.persisted and first.table == "source_cursors"
    assert store.source_cursor("imap") == "uid:10"
    store.upsert_source_cursor("imap", "uid:11")
    store.upsert_source_cursor("telegram", "offset:3")
    assert store.source_cursor("imap") == "uid:11"
    assert store.source_cursor("telegram") == "offset:3"
    assert store.stats().rows["source_cursors"] == 2


def _event(store: Any, event_id: int) -> tuple[Any, ...]:
    result = store.query(
        "SELECT kind, payload_json, status, reason FROM events WHERE id = ?", (event_id,)
    )
    assert len(result.rows) == 1
    return tuple(result.rows[0])


def test_event_insert_then_mark_delivered_or_failed(
    open_store: StoreFactory, engine: EngineName
) -> None:
    store = open_store(engine=engine)
    delivered = store.insert_event("push", {"to": "agent0", "n": 1})
    failed = store.insert_event("push", {"to": "agent1"})
    assert delivered.persisted and failed.persisted
    assert delivered.id is not None and failed.id is not None and delivered.id != failed.id
    kind, payload, status, reason = _event(store, delivered.id)
    assert (kind, json.loads(payload), status, reason) == (
        "push",
        {"to": "agent0", "n": 1},
        "pending",
        None,
    )

    assert store.mark_event(delivered.id, "delivered").persisted
    assert store.mark_event(failed.id, "failed", "peer evicted").persisted
    assert _event(store, delivered.id)[2:] == ("delivered", None)
    assert _event(store, failed.id)[2:] == ("failed", "peer evicted")


def test_mark_failed_needs_a_reason(open_store: StoreFactory) -> None:
    store = open_store()
    event_id = store.insert_event("push", {}).id or 0
    for reason in (None, ""):
        with pytest.raises(InvalidRecordError) as caught:
            store.mark_event(event_id, "failed", reason)
        assert caught.value.field == "reason"
    with pytest.raises(InvalidRecordError) as caught:
        store.mark_event(event_id, "lost")  # type: ignore[arg-type]
    assert caught.value.field == "status"
    assert _event(store, event_id)[2] == "pending"


def test_record_accepts_a_built_model_and_refuses_another_tables(
    open_store: StoreFactory,
) -> None:
    store = open_store()
    built = model_for("ticks").model_validate(SAMPLE_ROWS["ticks"])
    outcome = store.record("ticks", built)
    assert outcome.persisted
    assert rows_by_id(store, "ticks")[outcome.id or 0] == built.model_dump_json()
    with pytest.raises(InvalidRecordError):
        store.record("crashes", built)

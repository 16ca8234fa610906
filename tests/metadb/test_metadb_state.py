"""The store against an in-memory model: Hypothesis drives random sequences of writes.

Each example opens a fresh file with strategies drawn at the start (id strategy, connection
mode); rules record rows, batches, cursors and events, and the invariants compare every
table with the model after each step. One machine per engine.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)
from metadb_helpers import TURSO_MISSING, TURSO_SKIP_REASON

from stress.metadb import (
    CONNECTION_MODES,
    ID_STRATEGIES,
    SOURCE_ERROR_CLASSES,
    ConnectionMode,
    EngineName,
    IdStrategy,
    MetaDb,
    StoreOptions,
)

_text = st.text(max_size=12)
_ts = st.text(min_size=1, max_size=12)
_count = st.integers(min_value=0, max_value=10**9)

#: Row strategies of a few tables, each with the fields the model fills in by default.
_ROWS: dict[str, tuple[st.SearchStrategy[dict[str, Any]], dict[str, Any]]] = {
    "messages": (
        st.fixed_dictionaries(
            {
                "ts_utc": _ts,
                "source": _text,
                "direction": st.sampled_from(["inbound", "outbound"]),
                "chat_id": _text,
                "from_agent": _text,
                "to_agent": _text,
                "body": st.text(max_size=200),
            }
        ),
        {"raw_json": "{}"},
    ),
    "token_usage": (
        st.fixed_dictionaries(
            {
                "ts_utc": _ts,
                "session_id": _text,
                "agent": _text,
                "runtime": st.sampled_from(["claude", "codex", "gemini"]),
                "model": _text,
                "input_tokens": _count,
                "output_tokens": _count,
                "cost_usd_micros": _count,
            },
            optional={"cached_input_tokens": _count},
        ),
        {"cached_input_tokens": 0, "detail_json": "{}"},
    ),
    "iroh_events": (
        st.fixed_dictionaries(
            {
                "ts_utc": _ts,
                "event_type": st.sampled_from(["connect", "evict", "reconnect"]),
                "peer_id_hash": st.binary(min_size=8, max_size=8).map(bytes.hex),
                "peer_label": _text,
            }
        ),
        {"detail_json": "{}"},
    ),
    "source_errors": (
        st.fixed_dictionaries(
            {
                "ts_utc": _ts,
                "source": _text,
                "error_class": st.sampled_from(sorted(SOURCE_ERROR_CLASSES)) | _text,
                "message": _text,
            }
        ),
        {"detail_json": "{}"},
    ),
    "ticks": (
        st.fixed_dictionaries({"ts_utc": _ts, "source": _text}),
        {"detail_json": "{}"},
    ),
}
_TABLES = sorted(_ROWS)


@st.composite
def _table_and_rows(
    draw: st.DrawFn, min_rows: int, max_rows: int
) -> tuple[str, list[dict[str, Any]]]:
    table = draw(st.sampled_from(_TABLES))
    rows = draw(st.lists(_ROWS[table][0], min_size=min_rows, max_size=max_rows))
    return table, rows


def _stored_form(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """What the store must keep for ``row``: defaults filled, error classes bounded."""
    stored = {**_ROWS[table][1], **row}
    if table == "source_errors" and stored["error_class"] not in SOURCE_ERROR_CLASSES:
        stored["error_class"] = "unknown"
    return stored


class StoreMachine(RuleBasedStateMachine):
    engine: EngineName = "sqlite"

    events = Bundle("events")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="metadb-state-"))
        self.store: MetaDb | None = None
        self.rows: dict[str, dict[int, dict[str, Any]]] = {table: {} for table in _TABLES}
        self.cursors: dict[str, str] = {}
        self.event_rows: dict[int, tuple[str, Any, str, str | None]] = {}

    @initialize(
        ids=st.sampled_from(ID_STRATEGIES),
        connection=st.sampled_from(CONNECTION_MODES),
        block=st.integers(min_value=1, max_value=8),
    )
    def open_store(self, ids: IdStrategy, connection: ConnectionMode, block: int) -> None:
        options = StoreOptions(
            engine=self.engine,
            ids=ids,
            connection=connection,
            id_block_size=block,
        )
        self.store = MetaDb.open(self.folder / "meta.db", self.folder, options)

    def teardown(self) -> None:
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def db(self) -> MetaDb:
        assert self.store is not None
        return self.store

    def _remember(self, table: str, row_id: int | None, row: dict[str, Any]) -> None:
        assert row_id is not None
        assert row_id not in self.rows[table], f"id {row_id} handed out twice in {table}"
        self.rows[table][row_id] = _stored_form(table, row)

    @rule(drawn=_table_and_rows(min_rows=1, max_rows=1))
    def record(self, drawn: tuple[str, list[dict[str, Any]]]) -> None:
        table, (row,) = drawn
        outcome = self.db.record(table, row)
        assert outcome.status == "persisted" and outcome.table == table
        self._remember(table, outcome.id, row)

    @rule(drawn=_table_and_rows(min_rows=0, max_rows=6))
    def record_batch(self, drawn: tuple[str, list[dict[str, Any]]]) -> None:
        table, rows = drawn
        outcome = self.db.record_batch(table, rows)
        assert outcome.status == "persisted" and outcome.count == len(rows)
        assert len(outcome.ids) == len(rows)
        for row_id, row in zip(outcome.ids, rows, strict=True):
            self._remember(table, row_id, row)

    @rule(source=st.sampled_from(["imap", "telegram", "spool:x"]), value=_text)
    def upsert_cursor(self, source: str, value: str) -> None:
        assert self.db.upsert_source_cursor(source, value).persisted
        self.cursors[source] = value

    @rule(target=events, kind=st.sampled_from(["push", "ack"]), n=st.integers(0, 9))
    def insert_event(self, kind: str, n: int) -> int:
        outcome = self.db.insert_event(kind, {"n": n})
        assert outcome.persisted and outcome.id is not None
        assert outcome.id not in self.event_rows
        self.event_rows[outcome.id] = (kind, {"n": n}, "pending", None)
        return outcome.id

    @rule(event_id=consumes(events), reason=st.none() | st.text(min_size=1, max_size=12))
    def mark_event(self, event_id: int, reason: str | None) -> None:
        status: Literal["delivered", "failed"] = "delivered" if reason is None else "failed"
        outcome = self.db.mark_event(event_id, status, reason)
        assert outcome.persisted and outcome.id == event_id
        kind, payload, _, _ = self.event_rows[event_id]
        self.event_rows[event_id] = (kind, payload, status, reason)

    @invariant()
    def json_tables_match_the_model(self) -> None:
        if self.store is None:
            return
        for table in _TABLES:
            result = self.db.query(f"SELECT id, row_json FROM {table}")
            stored = {int(row_id): json.loads(text) for row_id, text in result.rows}
            assert stored == self.rows[table], table

    @invariant()
    def cursors_and_events_match_the_model(self) -> None:
        if self.store is None:
            return
        cursors = self.db.query("SELECT source, cursor_value FROM source_cursors").rows
        assert dict(cursors) == self.cursors
        events = self.db.query("SELECT id, kind, payload_json, status, reason FROM events").rows
        stored = {int(i): (k, json.loads(p), s, r) for i, k, p, s, r in events}
        assert stored == self.event_rows


_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class SqliteStoreMachine(StoreMachine):
    engine: EngineName = "sqlite"


class TursoStoreMachine(StoreMachine):
    engine: EngineName = "turso"


# Thirty examples of twenty steps take a few seconds: over the two-second line.
TestStoreSqlite = pytest.mark.slow(SqliteStoreMachine.TestCase)
TestStoreSqlite.settings = _SETTINGS

TestStoreTurso = pytest.mark.slow(
    pytest.mark.skipif(TURSO_MISSING, reason=TURSO_SKIP_REASON)(TursoStoreMachine.TestCase)
)
TestStoreTurso.settings = _SETTINGS

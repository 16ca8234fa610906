"""Opening a file: cold opens migrate, warm opens run no DDL, newer files are refused."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from metadb_helpers import SAMPLE_ROWS, rows_by_id

from stress.metadb import (
    JSON_TABLES,
    SCHEMA_VERSION,
    STRUCTURED_TABLES,
    ConnectionMode,
    EngineError,
    EngineName,
    MetaDb,
    SchemaTooNewError,
    StoreOptions,
)
from stress.metadb.schema import _MIGRATIONS, JSON_TABLES_V2

#: What a warm open must never run: DDL, the schema stamp, or a write transaction.
_FORBIDDEN = re.compile(
    r"^\s*(CREATE|ALTER|DROP|INSERT\s+(OR\s+\w+\s+)?INTO\s+meta\b|PRAGMA\s+user_version\s*=|"
    r"BEGIN\s+IMMEDIATE)",
    re.IGNORECASE,
)


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_forbidden_pattern_matches_what_it_should() -> None:
    assert _FORBIDDEN.match("CREATE TABLE IF NOT EXISTS x (id)")
    assert _FORBIDDEN.match("INSERT OR REPLACE INTO meta (key, value) VALUES ('a', 'b')")
    assert _FORBIDDEN.match("PRAGMA user_version = 2")
    assert _FORBIDDEN.match("BEGIN IMMEDIATE")
    assert not _FORBIDDEN.match("PRAGMA user_version")
    assert not _FORBIDDEN.match("PRAGMA journal_mode = WAL")


@pytest.mark.parametrize("connection", ["per-op", "long-lived"])
def test_warm_open_runs_no_ddl(db_path: Path, connection: ConnectionMode) -> None:
    cold: list[str] = []
    MetaDb.open(db_path, options=StoreOptions(trace=cold.append, connection=connection)).close()
    assert any(s.startswith("CREATE TABLE") for s in cold), "the cold open must migrate"
    assert any(_FORBIDDEN.match(s) for s in cold)

    warm: list[str] = []
    store = MetaDb.open(db_path, options=StoreOptions(trace=warm.append, connection=connection))
    store.query("SELECT count(*) FROM ticks")
    store.close()
    assert warm, "the trace saw nothing: the check would pass vacuously"
    assert "PRAGMA user_version" in warm
    assert [s for s in warm if _FORBIDDEN.match(s)] == []


def test_cold_open_creates_every_table(db_path: Path) -> None:
    MetaDb.open(db_path).close()
    assert _tables(db_path) >= set(JSON_TABLES) | set(STRUCTURED_TABLES)
    assert _user_version(db_path) == SCHEMA_VERSION
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert meta == (str(SCHEMA_VERSION),)


def _version_one_file(path: Path) -> list[tuple[int, str]]:
    """A file as the version-1 code left it, with a few messages; returns those rows."""
    rows = [(i, f'{{"body": "old message {i}"}}') for i in range(1, 6)]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in _MIGRATIONS[0]:
            conn.execute(statement)
        conn.executemany("INSERT INTO messages (id, row_json) VALUES (?, ?)", rows)
        conn.execute("PRAGMA user_version = 1")
    finally:
        conn.close()
    return rows


def test_version_one_file_migrates_to_current(db_path: Path, engine: EngineName) -> None:
    old_rows = _version_one_file(db_path)
    assert not _tables(db_path) & set(JSON_TABLES_V2)

    store = MetaDb.open(db_path, options=StoreOptions(engine=engine))
    assert store.query("PRAGMA user_version").rows == [(SCHEMA_VERSION,)]
    assert rows_by_id(store, "messages") == dict(old_rows)
    for table in JSON_TABLES_V2:
        assert store.record(table, SAMPLE_ROWS[table]).persisted
    store.close()
    assert _tables(db_path) >= set(JSON_TABLES_V2)


def test_newer_schema_is_refused_and_the_file_untouched(db_path: Path, engine: EngineName) -> None:
    found = SCHEMA_VERSION + 1
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("CREATE TABLE future (id INTEGER PRIMARY KEY)")
    conn.execute(f"PRAGMA user_version = {found}")
    conn.close()
    before = db_path.read_bytes()

    with pytest.raises(SchemaTooNewError) as caught:
        MetaDb.open(db_path, options=StoreOptions(engine=engine))
    error = caught.value
    assert (error.found, error.supported) == (found, SCHEMA_VERSION)
    assert f"schema version {found} is newer than supported {SCHEMA_VERSION}" in str(error)
    assert _user_version(db_path) == found
    if engine == "sqlite":
        # Not even switched to WAL. (Turso converts any file to WAL as it opens it, before
        # the store can read the version: an engine fact, not the store's doing.)
        assert db_path.read_bytes() == before


def test_writer_on_a_newer_file_raises_rather_than_spooling(db_path: Path) -> None:
    MetaDb.open(db_path).close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = MetaDb(db_path)
    with pytest.raises(SchemaTooNewError):
        store.record("ticks", SAMPLE_ROWS["ticks"])


def test_read_only_open_of_a_missing_file_is_an_engine_error(db_path: Path) -> None:
    with pytest.raises(EngineError) as caught:
        MetaDb.open(db_path, options=StoreOptions(read_only=True))
    assert caught.value.error_class == "io_error"
    assert not db_path.exists()


def test_cold_open_waits_out_a_writer_instead_of_failing_at_once(db_path: Path) -> None:
    """Switching a rollback-journal file to WAL while another connection writes.

    SQLite answers that switch with an immediate "database is locked" (its deadlock guard
    skips the busy handler), which lost writes when many processes opened a new file at
    once. The store must wait as the busy handler would: here the writer commits as the
    store tries again, and the open succeeds.
    """
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    attempts: list[str] = []

    def trace(statement: str) -> None:
        if statement.startswith("PRAGMA journal_mode"):
            attempts.append(statement)
            if len(attempts) == 2:
                writer.execute("COMMIT")  # the other writer finishes while the store waits

    try:
        store = MetaDb.open(db_path, options=StoreOptions(trace=trace, busy_timeout_ms=5_000))
    finally:
        writer.close()
    assert len(attempts) >= 2
    assert store.query("PRAGMA journal_mode").rows == [("wal",)]
    assert store.record("ticks", SAMPLE_ROWS["ticks"]).persisted

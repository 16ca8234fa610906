"""Tables, DDL and the additive migrations of meta.db.

``PRAGMA user_version`` holds the schema version. Opening a file whose version equals
:data:`SCHEMA_VERSION` runs no DDL at all: the original's lock storm came from running
``CREATE TABLE IF NOT EXISTS`` (a write lock) on every open of a short-lived process.
"""

from __future__ import annotations

__all__ = [
    "JSON_TABLES",
    "JSON_TABLES_V1",
    "JSON_TABLES_V2",
    "SCHEMA_VERSION",
    "STRUCTURED_TABLES",
    "migration_statements",
]

#: The eighteen JSON-row tables of the original (schema version 1).
JSON_TABLES_V1: tuple[str, ...] = (
    "messages",
    "cli_invocations",
    "crashes",
    "ticks",
    "workspaces",
    "sessions",
    "clone_dispatches",
    "harvest_events",
    "communication_events",
    "mcp_tool_calls",
    "git_operations",
    "owner_directives",
    "token_usage",
    "tests",
    "watchdog_events",
    "tasks",
    "source_errors",
    "iroh_events",
)

#: The tables the next additive schema (version 2) adds.
JSON_TABLES_V2: tuple[str, ...] = (
    "tool_use_events",
    "clone_lifecycle_events",
    "prepush_bypass_events",
    "marker_state_events",
    "dependency_installs",
)

#: Every JSON-row table of the current schema, in creation order.
JSON_TABLES: tuple[str, ...] = JSON_TABLES_V1 + JSON_TABLES_V2

#: Control-plane tables with real columns, read without parsing JSON.
STRUCTURED_TABLES: tuple[str, ...] = ("meta", "ids", "source_cursors", "events", "tick_rollups")

#: The schema version this code writes and expects.
SCHEMA_VERSION = 2


def _json_table(name: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY, row_json TEXT NOT NULL)"


_V1: tuple[str, ...] = (
    *(_json_table(name) for name in JSON_TABLES_V1),
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ids (name TEXT PRIMARY KEY, id INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS source_cursors ("
    "source TEXT PRIMARY KEY, cursor_value TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events ("
    "id INTEGER PRIMARY KEY, ts_utc TEXT NOT NULL, kind TEXT NOT NULL, "
    "payload_json TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
    "reason TEXT, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_status ON events (status)",
    # Retention rolls raw ticks older than 7 days into one row per (day, source).
    "CREATE TABLE IF NOT EXISTS tick_rollups ("
    "day TEXT NOT NULL, source TEXT NOT NULL, count INTEGER NOT NULL, "
    "PRIMARY KEY (day, source))",
)

_V2: tuple[str, ...] = tuple(_json_table(name) for name in JSON_TABLES_V2)

#: Statements that take a file from version ``index`` to ``index + 1``.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)


def migration_statements(from_version: int) -> list[str]:
    """The DDL that brings a file at ``from_version`` up to :data:`SCHEMA_VERSION`.

    Every step is additive (``CREATE ... IF NOT EXISTS``), so a file left half-way by an older
    build still migrates cleanly.
    """
    statements: list[str] = []
    for step in _MIGRATIONS[from_version:]:
        statements.extend(step)
    statements.append(
        f"INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')"
    )
    return statements

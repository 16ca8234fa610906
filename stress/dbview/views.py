"""``stress db RUN_DIR hot-tables | recent TABLE | summary | delivery | spool``.

After the original's reader script (``meta-db.py hot-tables``, ``recent``, ``summary``,
``delivery``): the questions an operator asks of a store, over every ``db-N/meta.db`` of a run
folder. Databases are opened read-only (``mode=ro`` and ``query_only``), so looking never
takes a write lock nor changes a file; spools are read as files. Each view is a list of rows
(dicts), printed as a plain text table or as JSON.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import orjson

from stress.errors import StressError
from stress.metadb.schema import JSON_TABLES, STRUCTURED_TABLES
from stress.metadb.spool import spool_stats

__all__ = ["VIEWS", "DbViewError", "show", "view_rows"]

VIEWS = ("hot-tables", "recent", "summary", "delivery", "spool")
_MAX_CELL = 120

Row = dict[str, Any]


class DbViewError(StressError, ValueError):
    """Bad input to ``stress db``: no databases, an unknown table, a missing argument."""

    exit_code = 2


def _databases(run_dir: Path) -> list[Path]:
    found = sorted(run_dir.glob("db-*/meta.db"), key=lambda p: int(p.parent.name[3:] or 0))
    if not found:
        raise DbViewError(f"{run_dir}: no db-N/meta.db here; pass the folder of a run")
    return found


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10.0)
    with closing(conn):
        conn.execute("PRAGMA query_only = 1")
        yield conn


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows]


def _hot_tables(run_dir: Path) -> list[Row]:
    """Rows per table, every database's added up (and each's), biggest first."""
    totals: dict[str, dict[str, int]] = {}
    for path in _databases(run_dir):
        with _read_only(path) as conn:
            for table in _tables(conn):
                (count,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                totals.setdefault(table, {})[path.parent.name] = int(count)
    rows = [{"table": t, "rows": sum(by.values()), **by} for t, by in totals.items()]
    return sorted(rows, key=lambda row: (-row["rows"], row["table"]))


def _recent(run_dir: Path, table: str | None, limit: int) -> list[Row]:
    """The newest ``limit`` rows of ``table`` in each database (highest id first)."""
    known = (*JSON_TABLES, "events", "source_cursors")
    if table is None or table not in known:
        raise DbViewError(
            f"stress db recent: table={table!r}: name one of the store's tables, e.g. "
            f"token_usage ({', '.join(known)})"
        )
    if limit < 1:
        raise DbViewError(f"stress db recent: --limit={limit}: must be 1 or more")
    order = "updated_at" if table == "source_cursors" else "id"
    rows: list[Row] = []
    for path in _databases(run_dir):
        with _read_only(path) as conn:
            if table not in _tables(conn):
                continue
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {order} DESC LIMIT ?", (limit,))
            names = [d[0] for d in cursor.description]
            rows.extend(
                {"db": path.parent.name, **dict(zip(names, r, strict=True))} for r in cursor
            )
    return rows


def _summary(run_dir: Path) -> list[Row]:
    """Per database: schema version, sizes, rows, the id allocator and the newest row."""
    rows = []
    for path in _databases(run_dir):
        wal = path.with_name(path.name + "-wal")
        with _read_only(path) as conn:
            tables = _tables(conn)
            json_rows = sum(
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in JSON_TABLES
                if t in tables
            )
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            (ids,) = (
                conn.execute("SELECT count(*) FROM ids").fetchone() if "ids" in tables else (0,)
            )
        rows.append(
            {
                "db": path.parent.name,
                "schema_version": int(version),
                "db_mb": round(path.stat().st_size / 2**20, 2),
                "wal_mb": round(wal.stat().st_size / 2**20, 2) if wal.exists() else 0.0,
                "tables": len(tables),
                "json_rows": int(json_rows),
                "id_counters": int(ids),
                "structured": ", ".join(t for t in STRUCTURED_TABLES if t in tables),
            }
        )
    return rows


def _delivery(run_dir: Path) -> list[Row]:
    """Delivery rows (``events``) by kind and status, with the oldest pending one's time."""
    rows = []
    for path in _databases(run_dir):
        with _read_only(path) as conn:
            if "events" not in _tables(conn):
                continue
            cursor = conn.execute(
                "SELECT kind, status, count(*), min(ts_utc), max(updated_at) FROM events "
                "GROUP BY kind, status ORDER BY kind, status"
            )
            for kind, status, count, oldest, latest in cursor:
                rows.append(
                    {
                        "db": path.parent.name,
                        "kind": kind,
                        "status": status,
                        "rows": int(count),
                        "oldest": oldest,
                        "last_update": latest,
                    }
                )
    return rows


def _spool(run_dir: Path) -> list[Row]:
    """Spooled writes per database, by table and error class (the spool files, read only)."""
    rows = []
    for path in _databases(run_dir):
        stats = spool_stats(path.parent)
        rows.append(
            {
                "db": path.parent.name,
                "files": stats.files,
                "lines": stats.lines,
                "by_table": stats.by_table,
                "by_error_class": stats.by_error_class,
                "problems": len(stats.problems),
            }
        )
    return rows


def view_rows(run_dir: Path, view: str, table: str | None = None, limit: int = 10) -> list[Row]:
    """The rows of one view."""
    if not run_dir.is_dir():
        raise DbViewError(f"{run_dir}: not a folder; pass the folder of a run")
    try:
        if view == "hot-tables":
            return _hot_tables(run_dir)
        if view == "recent":
            return _recent(run_dir, table, limit)
        if view == "summary":
            return _summary(run_dir)
        if view == "delivery":
            return _delivery(run_dir)
        if view == "spool":
            return _spool(run_dir)
    except sqlite3.DatabaseError as exc:
        raise DbViewError(f"{run_dir}: a database cannot be read ({exc})") from None
    raise DbViewError(f"stress db: view={view!r}: one of {', '.join(VIEWS)}")


def _cell(value: Any) -> str:
    text = orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)
    text = "" if value is None else text
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def format_table(rows: list[Row]) -> str:
    """A plain text table with one column per key (in first-seen order)."""
    if not rows:
        return "(no rows)\n"
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    cells = [keys] + [[_cell(row.get(k)) for k in keys] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def show(
    run_dir: Path, view: str, table: str | None = None, limit: int = 10, *, as_json: bool
) -> str:
    """The view as text: a table, or JSON (a list of objects)."""
    rows = view_rows(run_dir, view, table, limit)
    if as_json:
        return orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n"
    return format_table(rows)

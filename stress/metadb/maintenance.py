"""Upkeep of a meta.db file: checkpoint, integrity check, size figures and tick retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stress.metadb.engines import Connection
from stress.metadb.schema import JSON_TABLES, STRUCTURED_TABLES

__all__ = [
    "CheckpointResult",
    "RetentionResult",
    "StoreStats",
    "apply_retention",
    "checkpoint",
    "integrity_check",
    "store_stats",
    "wal_path",
]


@dataclass(frozen=True)
class CheckpointResult:
    """``PRAGMA wal_checkpoint`` figures, in WAL frames."""

    busy: bool
    log_frames: int
    checkpointed_frames: int


@dataclass(frozen=True)
class StoreStats:
    """Size figures of one database file."""

    page_size: int  # bytes
    page_count: int
    freelist_count: int
    file_bytes: int
    wal_bytes: int
    rows: dict[str, int]


@dataclass(frozen=True)
class RetentionResult:
    """What one retention pass did."""

    cutoff_utc: str
    rolled_up_ticks: int  # raw tick rows folded into daily counts and deleted
    rollup_rows: int  # (day, source) rows written or updated


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def checkpoint(conn: Connection, mode: str = "TRUNCATE") -> CheckpointResult:
    """Copy the WAL into the file (``PASSIVE``, ``FULL``, ``RESTART`` or ``TRUNCATE``)."""
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"checkpoint mode {mode!r}: use PASSIVE, FULL, RESTART or TRUNCATE")
    busy, log, done = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return CheckpointResult(bool(busy), int(log), int(done))


def integrity_check(conn: Connection, quick: bool = False) -> list[str]:
    """``["ok"]`` for a sound file, else the engine's list of problems."""
    pragma = "quick_check" if quick else "integrity_check"
    return [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}").fetchall()]


def store_stats(conn: Connection, db_path: Path) -> StoreStats:
    """Page figures, file and WAL bytes, and rows per table."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    page_count = int(conn.execute("PRAGMA page_count").fetchone()[0])
    freelist = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    rows = {
        table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        for table in (*JSON_TABLES, *STRUCTURED_TABLES)
    }
    wal = wal_path(db_path)
    return StoreStats(
        page_size=page_size,
        page_count=page_count,
        freelist_count=freelist,
        file_bytes=db_path.stat().st_size if db_path.exists() else 0,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        rows=rows,
    )


def apply_retention(conn: Connection, now: datetime, keep_days: int = 7) -> RetentionResult:
    """Fold raw ticks older than ``keep_days`` into daily counts per source, then delete them.

    The caller runs this inside one write transaction, so a crash leaves either the raw rows
    or their rollup, never both and never neither.
    """
    cutoff = (now.astimezone(UTC) - timedelta(days=keep_days)).isoformat(timespec="microseconds")
    old = "json_extract(row_json, '$.ts_utc') < ?"
    rollup = conn.execute(
        "INSERT INTO tick_rollups (day, source, count) "
        "SELECT substr(json_extract(row_json, '$.ts_utc'), 1, 10), "
        f"json_extract(row_json, '$.source'), count(*) FROM ticks WHERE {old} "
        "GROUP BY 1, 2 ORDER BY 1, 2 "
        "ON CONFLICT (day, source) DO UPDATE SET count = count + excluded.count",
        (cutoff,),
    )
    rollup_rows = max(int(rollup.rowcount), 0)
    deleted = conn.execute(f"DELETE FROM ticks WHERE {old}", (cutoff,))
    return RetentionResult(cutoff, max(int(deleted.rowcount), 0), rollup_rows)

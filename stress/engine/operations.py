"""Executing one planned operation against the store, through its public API only.

Each function returns an :class:`OpResult`: whether the op did what it meant to, rows moved,
and for a failure its error class (one of :data:`stress.observe.stats.ERROR_CLASSES`) and message.
Store-side failures never raise out of here; a programming error does.
"""

from __future__ import annotations

from dataclasses import dataclass

from stress.metadb import DISK_FULL, INTERRUPTED, BatchOutcome, EngineError, MetaDb, WriteOutcome
from stress.plan.profiles import OpKind
from stress.plan.workload import PlannedOp

__all__ = ["OpResult", "execute", "write_result"]


@dataclass(slots=True)
class OpResult:
    ok: bool
    rows_inserted: int = 0
    rows_queried: int = 0
    error_class: str | None = None
    message: str | None = None
    #: What the store answered a write op (ids, status and the JSON it acknowledged).
    written: WriteOutcome | BatchOutcome | None = None
    #: The store's class of a failure (:data:`stress.metadb.ERROR_CLASSES`), e.g.
    #: ``engine_refused`` behind a spooled write; None when the op succeeded.
    cause: str | None = None

    @property
    def interrupted(self) -> bool:
        """Stopped by the run's deadline (:meth:`MetaDb.interrupt`): neither done nor failed."""
        return self.cause == INTERRUPTED

    @property
    def disk_full(self) -> bool:
        """The store (or its spool) met a full disk, even if the rows were spooled after all."""
        written = self.written
        return self.error_class == DISK_FULL or (
            written is not None and written.error_class == DISK_FULL
        )


def _engine_class(error: EngineError) -> str:
    if error.error_class in ("lock_timeout", "busy"):
        return error.error_class
    if error.error_class == "engine_refused":
        return "engine"
    if error.error_class == "corrupt":
        return "integrity"
    if error.error_class == DISK_FULL:
        return DISK_FULL
    return "other"


def _failed(error: EngineError) -> OpResult:
    return OpResult(
        False, error_class=_engine_class(error), message=str(error), cause=error.error_class
    )


def write_result(outcome: WriteOutcome | BatchOutcome, op: PlannedOp) -> OpResult:
    """The result of write op ``op`` from the store's answer."""
    if outcome.status == "persisted":
        return OpResult(True, len(op.rows), written=outcome)
    # A spooled write is counted as spooled whatever the cause; a lost one by its cause.
    if outcome.status == "spooled":
        error_class = "spooled"
    else:
        error_class = DISK_FULL if outcome.error_class == DISK_FULL else "other"
    message = f"{outcome.error_class}: {outcome.reason}"
    return OpResult(
        False, error_class=error_class, message=message, written=outcome, cause=outcome.error_class
    )


def _insert_batch(store: MetaDb, op: PlannedOp) -> OpResult:
    assert op.table is not None  # planned inserts always name their table
    return write_result(store.record_batch(op.table, op.rows), op)


def _read(store: MetaDb, op: PlannedOp) -> OpResult:
    assert op.query is not None  # planned reads always carry their query
    query = op.query
    try:
        if query.snapshot:
            result = store.snapshot_query(query.sql, query.params)
        else:
            result = store.query(query.sql, query.params)
    except EngineError as error:
        return _failed(error)
    return OpResult(True, rows_queried=len(result.rows))


def _schema_ddl(store: MetaDb, op: PlannedOp, user_id: int) -> OpResult:
    """A scratch table created, written, read and dropped; then a cold open of the store.

    The cold open runs the schema-version check, the path that once ran DDL on every open
    and caused the original's lock storm.
    """
    name = f"scratch_u{user_id}_op{op.index}"
    columns = ", ".join(f"c{i} INTEGER" for i in range(op.ddl_columns))
    marks = ", ".join("?" for _ in range(op.ddl_columns))
    values = [tuple(row * 31 + col for col in range(op.ddl_columns)) for row in range(op.ddl_rows)]
    try:
        with store.transaction() as conn:
            conn.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, {columns})")
            conn.executemany(
                f"INSERT INTO {name} ({_cols(op.ddl_columns)}) VALUES ({marks})", values
            )
            found = len(conn.execute(f"SELECT * FROM {name}").fetchall())
            conn.execute(f"DROP TABLE {name}")
        MetaDb.open(store.path, store.home, store.options).close()
    except EngineError as error:
        return _failed(error)
    if found != op.ddl_rows:
        message = f"scratch table {name}: wrote {op.ddl_rows} rows, read back {found}"
        return OpResult(False, error_class="integrity", message=message)
    return OpResult(True, rows_inserted=op.ddl_rows, rows_queried=found)


def _cols(count: int) -> str:
    return ", ".join(f"c{i}" for i in range(count))


def execute(store: MetaDb, op: PlannedOp, user_id: int) -> OpResult:
    """Run ``op`` against ``store``."""
    kind = op.kind
    if kind is OpKind.SINGLE_INSERT:  # the commonest op, in as few calls as it can
        assert op.table is not None  # planned inserts always name their table
        return write_result(store.record(op.table, op.rows[0]), op)
    if kind is OpKind.BULK_INSERT:
        return _insert_batch(store, op)
    if op.kind is OpKind.SCHEMA_DDL:
        return _schema_ddl(store, op, user_id)
    return _read(store, op)

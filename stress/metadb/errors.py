"""Typed errors of the meta.db store.

Programming errors (an unknown table, an invalid record) raise; store-side failures (a lock held
past the busy timeout, a full disk) never raise from a writer: they become a spool line and an
outcome. The classes here are for the first kind and for what cannot be recovered at open.
All of them pickle, because worker processes send them to a coordinator.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EngineError",
    "EngineUnavailableError",
    "InvalidQueryError",
    "InvalidRecordError",
    "MetaDbError",
    "SchemaTooNewError",
    "UnknownTableError",
]


class MetaDbError(Exception):
    """Root of every error the store raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


def _rebuild(cls: type[MetaDbError], state: dict[str, Any], args: tuple[Any, ...]) -> MetaDbError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class UnknownTableError(MetaDbError, KeyError):
    """A table name that is not one of the store's JSON-row tables."""

    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f"unknown table {table!r}")

    def __str__(self) -> str:
        # KeyError quotes its argument; keep the plain sentence.
        return str(self.args[0])


class InvalidRecordError(MetaDbError, ValueError):
    """A record failed validation; ``field`` names the first offending field and, in a batch,
    ``row`` the offending row's index (``None`` for a single row)."""

    def __init__(self, table: str, field: str, problem: str, row: int | None = None) -> None:
        self.table = table
        self.field = field
        self.problem = problem
        self.row = row
        where = f"row {row}: " if row is not None else ""
        super().__init__(f"invalid {table} record: {where}field {field!r}: {problem}")


class InvalidQueryError(MetaDbError, ValueError):
    """A query the engine rejected as a query (bad SQL, unknown table or column)."""

    def __init__(self, sql: str, problem: str) -> None:
        self.sql = sql
        self.problem = problem
        super().__init__(f"invalid query: {problem}: {sql[:200]}")


class SchemaTooNewError(MetaDbError, RuntimeError):
    """The file's ``user_version`` is newer than this code supports; never downgraded."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"{path}: schema version {found} is newer than supported {supported}; "
            "upgrade stress or open a copy made by this version"
        )


class EngineError(MetaDbError, RuntimeError):
    """The engine failed in a way the caller must count (carries the engine's own message)."""

    def __init__(self, engine: str, error_class: str, message: str) -> None:
        self.engine = engine
        self.error_class = error_class
        self.message = message
        super().__init__(f"{engine}: {error_class}: {message}")


class EngineUnavailableError(MetaDbError, RuntimeError):
    """The engine's package is not installed (turso is an optional extra)."""

    def __init__(self, engine: str, hint: str) -> None:
        self.engine = engine
        self.hint = hint
        super().__init__(f"engine {engine!r} is not available: {hint}")

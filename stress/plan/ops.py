"""One planned operation, as the plan hands it out and the digest hashes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stress.plan.profiles import OpKind

__all__ = ["PlannedOp", "QuerySpec"]


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A read: its name, SQL and parameters, and whether it runs on an in-memory snapshot."""

    name: str
    sql: str
    params: tuple[Any, ...] = ()
    snapshot: bool = False


@dataclass(slots=True)
class PlannedOp:
    """One operation as planned. ``rows`` for inserts, ``query`` for reads."""

    index: int
    kind: OpKind
    table: str | None
    think_s: float
    rows: tuple[dict[str, Any], ...] = ()
    query: QuerySpec | None = None
    #: Scratch columns and rows of a schema-DDL op.
    ddl_columns: int = 0
    ddl_rows: int = 0
    #: The stream position before this op was drawn (not part of the digest: the count of
    #: draws is folded in separately); the write ledger keeps it so the oracle can regenerate
    #: an op that was in flight when its process was killed.
    draws_at: int = 0

    def canonical(self) -> bytes:
        """Stable bytes of everything the op will do; what the plan digest hashes."""
        query = (
            None
            if self.query is None
            else [self.query.name, self.query.params, self.query.snapshot]
        )
        return orjson.dumps(
            [
                self.index,
                self.kind,  # a StrEnum: orjson writes its value
                self.table,
                self.think_s,
                self.rows,
                query,
                self.ddl_columns,
                self.ddl_rows,
            ]
        )

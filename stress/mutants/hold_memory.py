"""``hold-memory:KB``: hold KB of memory for every op, and never free it (a planted leak).

The defect: a store that keeps something of every call for ever (a cache without eviction, a
list of past statements). Each ``record``, ``record_batch`` and ``query`` call adds KB of
filled (so resident) memory to a list of the process's. Nothing the oracle checks changes:
this is caught by ``stress soak``'s slope of resident memory per process (``rss_slope_mb_per_h``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stress.metadb import BatchOutcome, QueryResult, Record, WriteOutcome
from stress.mutants.base import MutantStore

__all__ = ["CAUGHT_BY", "MUTANT", "HoldMemory", "held_bytes"]

#: Everything held, process-wide: a user's store handle may go, the memory stays.
_HELD: list[bytearray] = []


def held_bytes() -> int:
    return sum(len(block) for block in _HELD)


class HoldMemory(MutantStore):
    def _hold(self) -> None:
        kb = self.spec.arg if self.spec.arg is not None else 64
        # Filled, not zeroed: zero pages from calloc would not be resident until written.
        _HELD.append(bytearray(b"\x5a") * (kb * 1024))

    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        self._hold()
        return super().record(table, row)

    def record_batch(self, table: str, rows: Sequence[Record | Mapping[str, Any]]) -> BatchOutcome:
        self._hold()
        return super().record_batch(table, rows)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> QueryResult:
        self._hold()
        return super().query(sql, params)


MUTANT = HoldMemory
#: Not an oracle check: the soak's threshold on the resident-memory slope (`stress soak`).
CAUGHT_BY = "threshold"

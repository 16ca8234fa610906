"""``torn-spool:N``: spool 1 in N single writes as half a line.

The defect: a spool append that writes part of its line (no ``O_APPEND`` whole-line write, no
check of a short write) and answers ``spooled`` all the same. The write is not made; the spool
gets the first half of the line the store would have written, without its newline. Caught by
the oracle's ``invariant:spool`` check: a row the store said it spooled is not in the spool.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stress.metadb import Record, WriteOutcome, spool_path
from stress.metadb.spool import SpoolEntry
from stress.mutants.base import MutantStore, row_json_of

__all__ = ["MUTANT", "TornSpool"]

#: The error class the torn line claims (a store that was busy, the common cause of spooling).
_CLAIMED_CLASS = "busy"


class TornSpool(MutantStore):
    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        if not self.strike():
            return super().record(table, row)
        row_json = row_json_of(table, row)
        entry = SpoolEntry(table, "insert", _CLAIMED_CLASS, "database is locked", None, row_json)
        moment = datetime.now(UTC)
        line = entry.to_json(moment.isoformat(timespec="microseconds"), self.options.engine)
        path = spool_path(self.home, moment)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as spool:
            spool.write(line[: len(line) // 2])
        return WriteOutcome(table, "spooled", None, _CLAIMED_CLASS, "database is locked", row_json)


MUTANT = TornSpool

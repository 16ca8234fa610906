"""``drop-write:N``: acknowledge 1 in N writes without writing them.

The defect: a store that answers ``persisted`` (with ids) for a write it never made, as a
write-back cache that loses its buffer would. A write is one ``record`` or one
``record_batch`` call (a whole batch is dropped). The ids it answers are ones the store never
hands out, so they cannot land on a real row. Caught by the oracle's ``missing`` check: an
acknowledged row absent from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stress.metadb import BatchOutcome, Record, WriteOutcome
from stress.mutants.base import MutantStore, row_json_of

__all__ = ["MUTANT", "DropWrite"]


class DropWrite(MutantStore):
    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        if not self.strike():
            return super().record(table, row)
        row_json = row_json_of(table, row)
        return WriteOutcome(table, "persisted", self.unused_ids(1)[0], row_json=row_json)

    def record_batch(self, table: str, rows: Sequence[Record | Mapping[str, Any]]) -> BatchOutcome:
        if not self.strike() or not rows:
            return super().record_batch(table, rows)
        row_jsons = tuple(row_json_of(table, row) for row in rows)
        ids = self.unused_ids(len(row_jsons))
        return BatchOutcome(table, "persisted", len(row_jsons), ids, row_jsons=row_jsons)


MUTANT = DropWrite

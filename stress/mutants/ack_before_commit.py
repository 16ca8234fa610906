"""``ack-before-commit:N``: acknowledge a batch, then roll it back, 1 in N batches.

The defect: a store that answers before its transaction has committed, whose commit then
fails and is rolled back, so rows the caller was told are stored are gone. It lives in the
batch path (``record_batch``, one transaction of many rows); the roll-back is made through the
store's public transaction after the answer. Caught by the oracle's ``missing`` check; the
failure's op is ``bulk_insert``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stress.metadb import BatchOutcome, Record
from stress.mutants.base import MutantStore

__all__ = ["MUTANT", "AckBeforeCommit"]


class AckBeforeCommit(MutantStore):
    def record_batch(self, table: str, rows: Sequence[Record | Any]) -> BatchOutcome:
        struck = self.strike()  # drawn before the write: one draw per call, whatever happens
        outcome = super().record_batch(table, rows)
        if struck and outcome.persisted and outcome.ids:
            marks = ", ".join("?" for _ in outcome.ids)
            with self.transaction() as conn:
                conn.execute(f"DELETE FROM {table} WHERE id IN ({marks})", outcome.ids)
        return outcome


MUTANT = AckBeforeCommit

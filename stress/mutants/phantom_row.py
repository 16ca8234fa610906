"""``phantom-row:N``: after 1 in N single writes, write a row no one asked for.

The defect: a store that inserts a row twice (a retried statement whose first attempt had
landed), answering only once. The extra copy has the same content under a fresh id. Caught by
the oracle's ``unaccounted`` check: a row in the store that no user wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stress.metadb import Record, WriteOutcome
from stress.mutants.base import MutantStore

__all__ = ["MUTANT", "PhantomRow"]


class PhantomRow(MutantStore):
    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        struck = self.strike()
        outcome = super().record(table, row)
        if struck and outcome.persisted:
            super().record(table, row)  # the phantom: its answer goes nowhere
        return outcome


MUTANT = PhantomRow

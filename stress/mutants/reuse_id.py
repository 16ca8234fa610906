"""``reuse-id:N``: hand out an id twice, in 1 of N single writes.

The defect: an id allocator that gives a new row an id it already gave an earlier one (a
lost lease, a counter read outside its transaction). The row is stored under a fresh id, but
the answer names the id of this handle's previous row of the table. Caught by the oracle's
``invariant:unique-ids`` check: two acknowledged rows of one table under one id (it also
shows as a missing row and an unaccounted one; that check names the cause).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from stress.metadb import MetaDb, Record, WriteOutcome
from stress.mutants.base import MutantStore
from stress.mutants.spec import MutantSpec

__all__ = ["MUTANT", "ReuseId"]


class ReuseId(MutantStore):
    def __init__(self, store: MetaDb, spec: MutantSpec, seed: np.random.SeedSequence) -> None:
        super().__init__(store, spec, seed)
        #: The last id this handle was given, per table.
        self._last_id: dict[str, int] = {}

    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        struck = self.strike()
        outcome = super().record(table, row)
        if not outcome.persisted or outcome.id is None:
            return outcome
        previous = self._last_id.get(table)
        self._last_id[table] = outcome.id
        if struck and previous is not None:
            return replace(outcome, id=previous)
        return outcome


MUTANT = ReuseId

"""The base of every store mutant: a :class:`MetaDb` with one deliberate defect.

A mutant is used exactly like the store (it *is* one: a subclass over the same file and
options), so the users' code does not know. It decides when to strike from a stream of its
own (:func:`stress.plan.draws.mutant_seed_sequence`, one per user): each hooked call draws
exactly one uniform, struck or not, so the same op of the same user meets the defect in a
replay or a shrink, whatever the timing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stress.metadb import MetaDb, Record, model_for
from stress.mutants.spec import MutantSpec

__all__ = ["UNUSED_ID_BASE", "MutantStore", "row_json_of"]

#: Ids from here up are never handed out by the store (its ids count up from 1), so an id a
#: mutant makes up never names a real row.
UNUSED_ID_BASE = 1 << 48


def row_json_of(table: str, row: Record | Mapping[str, Any]) -> str:
    """The exact JSON the store would store for ``row`` (what the ledger digests)."""
    model = model_for(table)
    record = row if type(row) is model else model.model_validate(row)
    return record.model_dump_json()


class MutantStore(MetaDb):
    """A store handle over ``store``'s file and options, with a defect struck 1 in N times."""

    def __init__(self, store: MetaDb, spec: MutantSpec, seed: np.random.SeedSequence) -> None:
        super().__init__(store.path, store.home, store.options)
        self.spec = spec
        self._generator = np.random.Generator(np.random.PCG64(seed))
        #: Times the defect was struck (for tests and the self-test).
        self.struck = 0

    def strike(self) -> bool:
        """One draw: True 1 in N times (N is the spec's argument)."""
        one_in = self.spec.arg if self.spec.arg is not None else 1
        hit = bool(self._generator.random() < 1.0 / one_in)
        self.struck += hit
        return hit

    def unused_ids(self, count: int) -> tuple[int, ...]:
        """``count`` consecutive ids no real row has (one draw picks where they start)."""
        start = UNUSED_ID_BASE + int(self._generator.integers(0, 1 << 40)) * 2**7
        return tuple(range(start, start + count))

"""``corrupt-row:N``: change one field of 1 in N acknowledged single rows.

The defect: a store that stores (or later rewrites) a row with one field changed after it
acknowledged the original, as a torn page or a bad in-place update would. The first field of
the row (in key order) is altered: a string gets ``~`` appended, a number 1 added. Caught by
the oracle's ``changed`` check: an acknowledged row present under its id with other content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from stress.metadb import Record, WriteOutcome
from stress.mutants.base import MutantStore

__all__ = ["MUTANT", "CorruptRow"]


def _altered(row_json: str) -> str:
    data = orjson.loads(row_json)
    key = sorted(data)[0]
    value = data[key]
    if isinstance(value, bool) or value is None:
        data[key] = not value
    elif isinstance(value, int | float):
        data[key] = value + 1
    else:
        data[key] = f"{value}~"
    return orjson.dumps(data).decode()


class CorruptRow(MutantStore):
    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        struck = self.strike()
        outcome = super().record(table, row)
        if struck and outcome.persisted and outcome.id is not None and outcome.row_json:
            with self.transaction() as conn:
                conn.execute(
                    f"UPDATE {table} SET row_json = ? WHERE id = ?",
                    (_altered(outcome.row_json), outcome.id),
                )
        return outcome


MUTANT = CorruptRow

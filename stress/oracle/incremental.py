"""The no-loss oracle, one epoch at a time: only what the ledgers gained since the last look.

While users go on writing, one direction of the oracle is exact: a row a ledger records as
acknowledged was committed before its record went in, so it must be in the store under its
id with the same JSON (or, spooled, in the spool or re-ingested). The other direction (no
row that nobody wrote) is not: a row can be committed a moment before its ledger record
lands. So each epoch checks the acknowledged rows its ledgers gained, reading every ledger
from where the last epoch stopped (cost: the epoch's writes, not the run's), and the full
oracle (:mod:`stress.oracle.verify`) runs once the users have stopped.

A worker killed between its store commit and its journal commit has its ledger cut back and
the op written again at the same place; records the cursor had already passed are then not
read again here (the full oracle reads them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stress.metadb import JSON_TABLES, MetaDb, MetaDbError, StoreOptions
from stress.oracle.ledger import LEDGER_DTYPE, PERSISTED, SPOOLED, row_digest
from stress.oracle.verify import MAX_EXAMPLES, DatabaseLedger, spool_keys

__all__ = ["EpochVerdict", "IncrementalOracle"]

_QUERY_IDS = 500


@dataclass
class EpochVerdict:
    """What one epoch's check found."""

    #: Acknowledged rows checked (persisted, and spooled with an id).
    checked: int = 0
    missing: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.missing == 0

    def miss(self, text: str) -> None:
        self.missing += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)


@dataclass
class IncrementalOracle:
    """Remembers, per ledger file, how many records it has checked."""

    read: dict[Path, int] = field(default_factory=dict)

    def check(self, databases: Iterable[DatabaseLedger]) -> EpochVerdict:
        verdict = EpochVerdict()
        for database in databases:
            self._check_database(database, verdict)
        return verdict

    def _check_database(self, database: DatabaseLedger, verdict: EpochVerdict) -> None:
        persisted: dict[int, dict[int, int]] = defaultdict(dict)  # table -> id -> digest
        spooled: dict[int, dict[int, int]] = defaultdict(dict)
        for path in database.ledgers:
            records = self._new_records(path)
            for status, table, row_id, digest in zip(
                records["status"].tolist(),
                records["table"].tolist(),
                records["id"].tolist(),
                records["digest"].tolist(),
                strict=True,
            ):
                if row_id >= 0 and status in (PERSISTED, SPOOLED):
                    target = persisted if status == PERSISTED else spooled
                    target[table][row_id] = digest
        if not persisted and not spooled:
            return
        store = MetaDb(
            database.path, database.home, StoreOptions(read_only=True, connection="long-lived")
        )
        try:
            found = _found(store, {t: [*persisted[t], *spooled[t]] for t in {*persisted, *spooled}})
        except MetaDbError as error:
            verdict.miss(f"db-{database.index}: unreadable: {error}")
            return
        finally:
            store.close()
        in_spool = spool_keys(database.home)[0] if spooled else set()
        name = f"db-{database.index}"
        for table, rows in persisted.items():
            for row_id, digest in rows.items():
                verdict.checked += 1
                if found.get((table, row_id)) != digest:
                    what = "content differs" if (table, row_id) in found else "missing"
                    verdict.miss(f"{name}: {JSON_TABLES[table]} id {row_id}: {what}")
        for table, rows in spooled.items():
            for row_id, digest in rows.items():
                verdict.checked += 1
                key = (table, row_id)
                if found.get(key) != digest and (JSON_TABLES[table], row_id) not in in_spool:
                    verdict.miss(f"{name}: {JSON_TABLES[table]} id {row_id}: spooled, lost")

    def _new_records(self, path: Path) -> np.ndarray[Any, Any]:
        start = self.read.get(path, 0)
        if not path.exists():
            return np.zeros(0, dtype=LEDGER_DTYPE)
        with path.open("rb") as handle:
            handle.seek(start * LEDGER_DTYPE.itemsize)
            records = np.fromfile(handle, dtype=LEDGER_DTYPE)
        # Stop at the first record not yet written (status 0: the status byte goes in last).
        ends = np.flatnonzero(records["status"] == 0)
        if ends.size:
            records = records[: ends[0]]
        self.read[path] = start + len(records)
        return records


def _found(store: MetaDb, wanted: dict[int, list[int]]) -> dict[tuple[int, int], int]:
    """(table index, id) -> digest of the stored JSON, for the ids asked for that exist."""
    found: dict[tuple[int, int], int] = {}
    for table, ids in wanted.items():
        for start in range(0, len(ids), _QUERY_IDS):
            chunk = ids[start : start + _QUERY_IDS]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, row_json FROM {JSON_TABLES[table]} WHERE id IN ({marks})"
            for row_id, row_json in store.query(sql, chunk).rows:
                found[(table, int(row_id))] = row_digest(str(row_json))
    return found

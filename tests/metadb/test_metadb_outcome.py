"""The fast-built outcome of a landed write is the same value as one built normally."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
from metadb_helpers import tick

from stress.metadb import IdStrategy, StoreOptions, WriteOutcome
from stress.metadb.store import MetaDb


def test_a_persisted_outcome_equals_one_built_by_init_and_stays_frozen() -> None:
    fast = WriteOutcome._persisted("ticks", 5, "{}")
    built = WriteOutcome("ticks", "persisted", 5, None, None, "{}")
    assert (fast, hash(fast), repr(fast)) == (built, hash(built), repr(built))
    assert pickle.loads(pickle.dumps(fast)) == built
    assert dataclasses.replace(fast, id=6).id == 6 and fast.persisted
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.id = 7  # type: ignore[misc]


@pytest.mark.parametrize("ids", ["row", "block", "rowid"])
def test_a_single_row_write_returns_its_id_and_the_stored_text(
    db_path: Path, tmp_path: Path, ids: IdStrategy
) -> None:
    with MetaDb.open(db_path, tmp_path, StoreOptions(connection="long-lived", ids=ids)) as store:
        outcome = store.record("ticks", tick("a"))
        stored = store.query("SELECT id, row_json FROM ticks").rows
    assert outcome == WriteOutcome("ticks", "persisted", stored[0][0], None, None, stored[0][1])

"""Each store mutant on a real store file: it breaks exactly the promise it says it breaks.

N = 1 strikes every time, so each test sees the defect at once; the oracle's side (which
check catches it) is tested on whole runs in ``test_mutants_selftest.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stress.cli.main import main
from stress.config import load_settings
from stress.errors import ConfigError
from stress.metadb import MetaDb, iter_spool_lines, spool_files
from stress.mutants import MUTANT_ARGS, MutantSpec, apply_mutant, parse_mutant
from stress.mutants.base import UNUSED_ID_BASE
from stress.plan.draws import Draws, mutant_seed_sequence, user_seed_sequence
from stress.plan.payloads import row_factory

TABLE = "ticks"


def _rows(count: int) -> list[dict[str, Any]]:
    draws = Draws(np.random.SeedSequence(5))
    return [row_factory(TABLE).make(draws) for _ in range(count)]


def _mutant(tmp_path: Path, text: str) -> MetaDb:
    store = MetaDb.open(tmp_path / "meta.db", tmp_path)
    return apply_mutant(store, parse_mutant(text), mutant_seed_sequence(1, 0))


def _stored(tmp_path: Path) -> dict[int, str]:
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        return dict(conn.execute(f"SELECT id, row_json FROM {TABLE}").fetchall())


def test_no_mutant_is_the_store_itself(tmp_path: Path) -> None:
    store = MetaDb(tmp_path / "meta.db", tmp_path)
    assert apply_mutant(store, None, mutant_seed_sequence(1, 0)) is store
    assert load_settings({}).mutant is None


def test_drop_write_acknowledges_rows_it_never_wrote(tmp_path: Path) -> None:
    store = _mutant(tmp_path, "drop-write:1")
    single = store.record(TABLE, _rows(1)[0])
    batch = store.record_batch(TABLE, _rows(3))
    assert single.persisted and batch.persisted and len(batch.ids) == 3
    assert single.id is not None and single.id >= UNUSED_ID_BASE
    assert _stored(tmp_path) == {}


def test_ack_before_commit_rolls_back_an_acknowledged_batch(tmp_path: Path) -> None:
    store = _mutant(tmp_path, "ack-before-commit:1")
    batch = store.record_batch(TABLE, _rows(4))
    assert batch.persisted and len(batch.ids) == 4
    assert not set(batch.ids) & set(_stored(tmp_path))
    # Single writes are not its business.
    single = store.record(TABLE, _rows(1)[0])
    assert single.id in _stored(tmp_path)


def test_reuse_id_names_an_id_it_already_gave(tmp_path: Path) -> None:
    store = _mutant(tmp_path, "reuse-id:1")
    first, second = (store.record(TABLE, row) for row in _rows(2))
    assert first.persisted and second.persisted and second.id == first.id
    assert len(_stored(tmp_path)) == 2  # both rows stored, under two real ids


def test_torn_spool_leaves_half_a_line(tmp_path: Path) -> None:
    store = _mutant(tmp_path, "torn-spool:1")
    outcome = store.record(TABLE, _rows(1)[0])
    assert outcome.status == "spooled" and _stored(tmp_path) == {}
    lines = [line for path in spool_files(tmp_path) for line in iter_spool_lines(path)]
    assert len(lines) == 1 and lines[0].record is None


def test_phantom_row_writes_a_second_copy(tmp_path: Path) -> None:
    store = _mutant(tmp_path, "phantom-row:1")
    outcome = store.record(TABLE, _rows(1)[0])
    stored = _stored(tmp_path)
    assert len(stored) == 2 and outcome.id in stored
    assert len(set(stored.values())) == 1


def test_corrupt_row_changes_one_field_after_the_answer(tmp_path: Path) -> None:
    store = _mutant(tmp_path, "corrupt-row:1")
    outcome = store.record(TABLE, _rows(1)[0])
    assert outcome.id is not None and outcome.row_json is not None
    stored = json.loads(_stored(tmp_path)[outcome.id])
    acknowledged = json.loads(outcome.row_json)
    assert stored.keys() == acknowledged.keys()
    assert [key for key in stored if stored[key] != acknowledged[key]] == [sorted(stored)[0]]


def test_a_mutant_strikes_at_the_same_writes_from_the_same_stream(tmp_path: Path) -> None:
    def strikes(user_id: int) -> list[bool]:
        store = MetaDb(tmp_path / "meta.db", tmp_path)
        mutant = apply_mutant(store, MutantSpec("drop-write", 4), mutant_seed_sequence(9, user_id))
        return [mutant.strike() for _ in range(200)]  # type: ignore[attr-defined]

    assert strikes(3) == strikes(3)
    assert strikes(3) != strikes(4)
    assert 20 < sum(strikes(3)) < 80  # about 1 in 4


def test_the_mutant_stream_is_a_family_of_its_own() -> None:
    mutant = np.random.Generator(np.random.PCG64(mutant_seed_sequence(9, 3))).random(4)
    for user_id in range(300):
        user = np.random.Generator(np.random.PCG64(user_seed_sequence(9, user_id))).random(4)
        assert not np.array_equal(mutant, user)


def test_parse_fills_the_default_and_refuses_bad_text() -> None:
    assert parse_mutant("drop-write") == MutantSpec("drop-write", MUTANT_ARGS["drop-write"].default)
    assert parse_mutant("drop-write:500").text == "drop-write:500"
    for bad, why in [
        ("nope", "no mutant named 'nope'"),
        ("drop-write:0", "N must be a whole number >= 1"),
        ("drop-write:x", "N must be a whole number >= 1"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_mutant(bad)


@pytest.mark.parametrize("value", ["nope", "drop-write:0", "corrupt-row:-3"])
def test_a_bad_mutant_is_one_line_exit_2_and_nothing_written(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", "--mutant", value, "--output-dir", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"ConfigError: --mutant={value}: ")
    assert "known: drop-write[:N], ack-before-commit[:N]" in lines[0]
    assert not out.exists()


def test_the_variable_names_itself_too() -> None:
    with pytest.raises(ConfigError, match="STRESS_MUTANT=bogus: no mutant named 'bogus'"):
        load_settings({"STRESS_MUTANT": "bogus"})


def test_every_registered_mutant_declares_its_store_and_the_check_that_catches_it() -> None:
    """One module and one registry line make a mutant: a module missing either name once
    crashed `stress selftest` (hold-memory had no CAUGHT_BY)."""
    from stress.mutants import MUTANT_ARGS, caught_by, mutant_class, selftest_mutants
    from stress.mutants.base import MutantStore
    from stress.signature import Check

    known_checks = {str(check) for check in Check}
    for name in MUTANT_ARGS:
        assert issubclass(mutant_class(name), MutantStore), name
        assert caught_by(name).split(":")[0] in known_checks, (name, caught_by(name))
    # The selftest's short runs are judged by the oracle; a leak only by a soak's slopes.
    assert "hold-memory" not in selftest_mutants()
    assert caught_by("hold-memory") == "threshold"
    assert set(selftest_mutants()) == set(MUTANT_ARGS) - {"hold-memory"}

"""Payloads: every row the factories draw is a valid record of its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from stress.metadb import JSON_TABLES, RECORD_MODELS, MetaDb, model_for
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.payloads import EPOCH, row_factory

ROWS_PER_TABLE = 300


def test_every_table_has_a_factory() -> None:
    assert set(RECORD_MODELS) == set(JSON_TABLES)
    for table in JSON_TABLES:
        assert row_factory(table).table == table
        assert row_factory(table) is row_factory(table)


@pytest.mark.parametrize("table", JSON_TABLES)
def test_every_row_validates_against_its_model(table: str) -> None:
    model = model_for(table)
    draws = Draws(user_seed_sequence(11, JSON_TABLES.index(table)))
    factory = row_factory(table)
    for _ in range(ROWS_PER_TABLE):
        row = factory.make(draws)
        assert set(row) == set(model.model_fields)
        model.model_validate(row)
        for name, value in row.items():
            if name.startswith("ts_utc") and value is not None:
                assert value < EPOCH.isoformat()


@pytest.mark.parametrize("table", JSON_TABLES)
def test_rows_depend_only_on_the_stream_position(table: str) -> None:
    first, second = Draws(user_seed_sequence(5, 1)), Draws(user_seed_sequence(5, 1))
    factory = row_factory(table)
    assert [factory.make(first) for _ in range(20)] == [factory.make(second) for _ in range(20)]
    assert first.consumed == second.consumed > 0


def test_the_store_accepts_a_batch_of_every_table(tmp_path: Path) -> None:
    draws = Draws(user_seed_sequence(3, 0))
    with MetaDb.open(tmp_path / "meta.db", tmp_path) as store:
        for table in JSON_TABLES:
            rows = [row_factory(table).make(draws) for _ in range(25)]
            outcome = store.record_batch(table, rows)
            assert outcome.status == "persisted", (table, outcome)
            assert len(outcome.ids) == 25

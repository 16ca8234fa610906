"""Record models, the public API, and the typed errors (validation, pickling)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from metadb_helpers import SAMPLE_ROWS

import stress.metadb as metadb
from stress.metadb import (
    JSON_TABLES,
    RECORD_MODELS,
    SCHEMA_VERSION,
    SOURCE_ERROR_CLASSES,
    EngineError,
    EngineUnavailableError,
    InvalidRecordError,
    MetaDbError,
    SchemaTooNewError,
    UnknownTableError,
    model_for,
)
from stress.metadb.records import validate_record


def test_public_api_names_exist() -> None:
    missing = [name for name in metadb.__all__ if not hasattr(metadb, name)]
    assert missing == []
    assert sorted(metadb.__all__) == sorted(set(metadb.__all__))


def test_every_json_table_has_a_model_and_a_sample() -> None:
    assert set(RECORD_MODELS) == set(JSON_TABLES)
    assert set(SAMPLE_ROWS) == set(JSON_TABLES)


@pytest.mark.parametrize("table", JSON_TABLES)
def test_model_accepts_its_sample(table: str) -> None:
    record = validate_record(table, SAMPLE_ROWS[table])
    assert type(record) is model_for(table)
    dumped = record.model_dump()
    for field, value in SAMPLE_ROWS[table].items():
        assert dumped[field] == value


@pytest.mark.parametrize("table", JSON_TABLES)
def test_model_rejects_a_missing_required_field(table: str) -> None:
    row = dict(SAMPLE_ROWS[table])
    field = next(name for name in row if name.startswith("ts_utc"))
    del row[field]
    with pytest.raises(InvalidRecordError) as caught:
        validate_record(table, row)
    assert caught.value.table == table
    assert caught.value.field == field


@pytest.mark.parametrize("table", JSON_TABLES)
def test_model_rejects_an_unknown_field(table: str) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        validate_record(table, {**SAMPLE_ROWS[table], "surprise": 1})
    assert caught.value.field == "surprise"


BAD_VALUES: list[tuple[str, str, Any]] = [
    ("token_usage", "input_tokens", -1),
    ("token_usage", "output_tokens", -5),
    ("token_usage", "cost_usd_micros", -1),
    ("token_usage", "input_tokens", "many"),
    ("messages", "direction", "sideways"),
    ("communication_events", "direction", "up"),
    ("sessions", "event", "sideways"),
    ("sessions", "session_num", -1),
    ("iroh_events", "peer_id_hash", "0123456789abcde"),  # 15 hex chars
    ("iroh_events", "peer_id_hash", "0123456789abcdef0"),  # 17
    ("iroh_events", "peer_id_hash", "0123456789abcdeg"),  # not hex
    ("iroh_events", "peer_id_hash", "peer-7f3a-laptop"),  # a raw id, not a hash
    ("iroh_events", "event_type", "teleport"),
    ("cli_invocations", "duration_ms", -0.5),
    ("mcp_tool_calls", "duration_ms", -1.0),
    ("tests", "outcome", "flaky"),
    ("watchdog_events", "severity", "panic"),
    ("tasks", "status", "someday"),
    ("owner_directives", "status", "ignored"),
    ("clone_dispatches", "lifecycle", "paused"),
    ("harvest_events", "conflicts", -2),
    ("messages", "ts_utc", ""),
]


@pytest.mark.parametrize(("table", "field", "value"), BAD_VALUES)
def test_model_rejects_a_bad_value_naming_the_field(table: str, field: str, value: Any) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        validate_record(table, {**SAMPLE_ROWS[table], field: value})
    assert caught.value.table == table
    assert caught.value.field == field
    assert repr(field) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_iroh_peer_id_hash_accepts_a_truncated_sha256() -> None:
    import hashlib

    digest = hashlib.sha256(b"peer-7f3a").hexdigest()[:16]
    record = validate_record("iroh_events", {**SAMPLE_ROWS["iroh_events"], "peer_id_hash": digest})
    assert record.model_dump()["peer_id_hash"] == digest


@pytest.mark.parametrize("error_class", sorted(SOURCE_ERROR_CLASSES))
def test_source_error_known_classes_are_kept(error_class: str) -> None:
    row = {**SAMPLE_ROWS["source_errors"], "error_class": error_class}
    assert validate_record("source_errors", row).model_dump()["error_class"] == error_class


@pytest.mark.parametrize("error_class", ["Timeout", "ECONNRESET", "", "io error", "x" * 500])
def test_source_error_unknown_classes_map_to_unknown(error_class: str) -> None:
    row = {**SAMPLE_ROWS["source_errors"], "error_class": error_class}
    assert validate_record("source_errors", row).model_dump()["error_class"] == "unknown"


def test_a_record_of_another_table_is_rejected() -> None:
    ticks = validate_record("ticks", SAMPLE_ROWS["ticks"])
    with pytest.raises(InvalidRecordError) as caught:
        validate_record("crashes", ticks)
    assert caught.value.field == "<record>"


def test_a_non_mapping_row_is_rejected() -> None:
    with pytest.raises(InvalidRecordError) as caught:
        validate_record("ticks", ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert caught.value.table == "ticks"


def test_a_built_model_passes_as_is() -> None:
    record = model_for("ticks")(**SAMPLE_ROWS["ticks"])
    assert validate_record("ticks", record) is record


@pytest.mark.parametrize("table", ["nope", "", "meta", "ids", "events", "Messages"])
def test_unknown_table_raises(table: str) -> None:
    with pytest.raises(UnknownTableError) as caught:
        model_for(table)
    assert caught.value.table == table
    assert str(caught.value) == f"unknown table {table!r}"
    assert isinstance(caught.value, KeyError)


ERRORS: list[MetaDbError] = [
    UnknownTableError("nope"),
    InvalidRecordError("token_usage", "input_tokens", "must be >= 0"),
    SchemaTooNewError("/tmp/meta.db", SCHEMA_VERSION + 1, SCHEMA_VERSION),
    EngineError("sqlite", "lock_timeout", "database is locked"),
    EngineUnavailableError("turso", "pip install 'stress[turso]'"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(error: MetaDbError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert isinstance(copy, MetaDbError)


def test_schema_too_new_message() -> None:
    error = SchemaTooNewError("/x/meta.db", 7, 2)
    assert "schema version 7 is newer than supported 2" in str(error)
    assert (error.found, error.supported, error.path) == (7, 2, "/x/meta.db")

"""The compiled row codec: the same stored text as each model's own dump, and typed errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metadb_helpers import SAMPLE_ROWS

from stress.metadb import JSON_TABLES, InvalidRecordError, model_for
from stress.metadb.codec import codec_for
from stress.plan.draws import Draws
from stress.plan.payloads import row_factory


def _model_text(table: str, row: dict[str, Any]) -> str:
    return model_for(table).model_validate(row).model_dump_json()


@pytest.mark.parametrize("table", JSON_TABLES)
def test_the_simulators_rows_are_stored_as_their_model_dumps_them(table: str) -> None:
    factory, draws = row_factory(table), Draws(np.random.SeedSequence(7))
    rows = [factory.make(draws) for _ in range(200)] + [SAMPLE_ROWS[table]]
    expected = [_model_text(table, row) for row in rows]
    codec = codec_for(table)
    assert codec.row_jsons(rows) == expected
    assert [codec.row_json(row) for row in rows] == expected


@settings(max_examples=300, deadline=None)
@given(
    duration=st.floats(min_value=0, allow_nan=False) | st.integers(0, 2**70),
    tokens=st.integers(0, 2**70) | st.booleans(),
    text=st.text(alphabet=st.characters(codec="utf-8")),
)
def test_any_valid_values_give_the_models_text(duration: Any, tokens: Any, text: str) -> None:
    cli = {**SAMPLE_ROWS["cli_invocations"], "duration_ms": duration, "host": text}
    usage = {**SAMPLE_ROWS["token_usage"], "input_tokens": tokens, "model": text}
    assert codec_for("cli_invocations").row_jsons([cli]) == [_model_text("cli_invocations", cli)]
    assert codec_for("token_usage").row_json(usage) == _model_text("token_usage", usage)


_EDGE_FLOATS = [
    0.0, -0.0, 0.1, 0.1 + 0.2, 1.0, 100.0, 1e15, 1e16, 1e17, 1e21, 1e22, 1.5e300,
    1.7976931348623157e308, 5e-324, 1e-7, 1.5e-7, 123456789.123, 2.0**53, 2.0**53 + 2,
    float("inf"), 1 / 3, 2 / 3, 9007199254740993.0,
]  # fmt: skip
_EDGE_INTS = [0, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**100, True]


@pytest.mark.parametrize("number", _EDGE_FLOATS + _EDGE_INTS)
def test_edge_numbers_give_the_models_text(number: Any) -> None:
    whole = number if isinstance(number, int) else 7
    cli = {**SAMPLE_ROWS["cli_invocations"], "duration_ms": number, "exit_code": whole}
    expected = _model_text("cli_invocations", cli)
    assert codec_for("cli_invocations").row_json(cli) == expected
    assert codec_for("cli_invocations").row_jsons([cli, cli]) == [expected, expected]


def test_every_character_is_escaped_as_the_model_escapes_it() -> None:
    # Every code point but the surrogates, which no UTF-8 text can carry.
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for start in range(0, len(every), 50_000):
        row = {**SAMPLE_ROWS["messages"], "body": every[start : start + 50_000]}
        assert codec_for("messages").row_json(row) == _model_text("messages", row)


def test_a_table_with_a_field_validator_keeps_the_models_serializer() -> None:
    row = {**SAMPLE_ROWS["source_errors"], "error_class": "EHOSTUNREACH"}
    assert codec_for("source_errors").row_json(row) == _model_text("source_errors", row)
    assert '"error_class":"unknown"' in codec_for("source_errors").row_json(row)


def test_defaults_are_filled_and_fields_keep_the_models_order() -> None:
    row = dict(reversed(SAMPLE_ROWS["ticks"].items()))
    row.pop("detail_json", None)
    assert codec_for("ticks").row_json(row) == _model_text("ticks", row)
    assert codec_for("ticks").row_json(row).startswith('{"ts_utc":')


def test_a_bad_row_in_a_batch_is_named_by_its_index_and_field() -> None:
    rows = [SAMPLE_ROWS["token_usage"]] * 5
    rows = [*rows[:3], {**rows[3], "input_tokens": -1}, rows[4]]
    with pytest.raises(InvalidRecordError) as caught:
        codec_for("token_usage").row_jsons(rows)
    assert (caught.value.table, caught.value.row, caught.value.field) == (
        "token_usage", 3, "input_tokens"
    )  # fmt: skip
    assert "row 3: field 'input_tokens'" in str(caught.value)


def test_a_mixed_batch_of_models_and_mappings_names_the_bad_row() -> None:
    built = model_for("ticks").model_validate(SAMPLE_ROWS["ticks"])
    codec = codec_for("ticks")
    assert codec.row_jsons([built, SAMPLE_ROWS["ticks"]]) == [built.model_dump_json()] * 2
    crash = model_for("crashes").model_validate(SAMPLE_ROWS["crashes"])
    with pytest.raises(InvalidRecordError) as caught:
        codec.row_jsons([built, crash])  # type: ignore[list-item]
    assert (caught.value.row, caught.value.field) == (1, "<record>")


def test_a_single_row_error_has_no_index() -> None:
    with pytest.raises(InvalidRecordError) as caught:
        codec_for("ticks").row_json({**SAMPLE_ROWS["ticks"], "surprise": 1})
    assert (caught.value.row, caught.value.field) == (None, "surprise")

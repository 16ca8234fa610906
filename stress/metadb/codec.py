"""Rows to stored JSON text: validated once per batch, serialised by the models' own rules.

A record model (:mod:`stress.metadb.records`) declares a table's fields once. Building a
model instance per row only to dump it again cost about 5 us per row (validation 3.5, the
dump 1.5), more than the insert it precedes. A :class:`RowCodec` compiles, from the model's
own core schema, a validator that turns a row mapping into a plain dict (same fields, same
constraints, same field validators, same defaults, same order); a batch goes through one
compiled list validator in a single call.

The JSON text must be byte-for-byte what ``model_validate(row).model_dump_json()`` gives
(the oracle's digests and the replay fixtures depend on it). A table whose fields are all
plain JSON scalars (str, int, float, bool, None, literals of those) is dumped with ``orjson``,
which writes those exactly as pydantic's serializer does (compact, fields in order, the same
shortest float text and string escapes) at a third of the cost; an int beyond 64 bits, which
orjson refuses, falls back to the models' serializer. Any other field type (a date, a nested
model, a validator whose output type the schema does not say) keeps pydantic's serializer for
its table. tests/metadb/test_metadb_codec.py checks every table against the models, with
arbitrary floats, big ints and every character.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import SchemaSerializer, SchemaValidator, core_schema

from stress.metadb.errors import InvalidRecordError
from stress.metadb.records import Record, model_for

__all__ = ["RowCodec", "codec_for"]

#: Keys of a model field's core schema that the plain-dict schema carries over as they are;
#: anything else (aliases, exclusions) would change what the dict means, so it is refused.
_FIELD_KEYS = frozenset({"type", "schema", "metadata"})


@dataclass(frozen=True)
class RowCodec:
    """One table's compiled validator and serializer for row mappings."""

    table: str
    model: type[Record]
    _row: SchemaValidator
    _rows: SchemaValidator
    _dump: SchemaSerializer
    #: Every field a plain JSON scalar: orjson writes the same text as ``_dump``.
    _plain: bool

    def row_json(self, row: Record | Mapping[str, Any]) -> str:
        """The stored JSON text of one row; :class:`InvalidRecordError` for a bad one."""
        if type(row) is not dict:  # a plain dict, the usual row, skips both checks
            if type(row) is self.model:
                return self.model.__pydantic_serializer__.to_json(row).decode()
            if isinstance(row, Record):
                raise InvalidRecordError(self.table, "<record>", f"got a {row.table} record")
        try:
            valid = self._row.validate_python(row)
        except ValidationError as exc:
            raise self._invalid(exc, None) from None
        return self._text(valid)

    def _text(self, valid: dict[str, Any]) -> str:
        if self._plain:
            try:
                return orjson.dumps(valid).decode()
            except orjson.JSONEncodeError:
                pass  # an int beyond 64 bits: the models' serializer writes it
        return self._dump.to_json(valid).decode()

    def row_jsons(self, rows: Sequence[Record | Mapping[str, Any]]) -> list[str]:
        """The stored JSON text of each row: mappings are validated in one call."""
        try:
            valid = self._rows.validate_python(rows)
        except ValidationError as exc:
            if any(isinstance(row, Record) for row in rows):
                # Built models pass as they are (the list validator takes only mappings).
                return [self._numbered(index, row) for index, row in enumerate(rows)]
            raise self._invalid(exc, 0) from None
        if self._plain:
            try:
                dumps = orjson.dumps
                return [dumps(row).decode() for row in valid]
            except orjson.JSONEncodeError:
                pass  # some row has an int beyond 64 bits: row by row, with the fallback
        return [self._text(row) for row in valid]

    def _numbered(self, index: int, row: Record | Mapping[str, Any]) -> str:
        try:
            return self.row_json(row)
        except InvalidRecordError as exc:
            raise InvalidRecordError(self.table, exc.field, exc.problem, row=index) from None

    def _invalid(self, exc: ValidationError, row_at: int | None) -> InvalidRecordError:
        """The first error as a typed one; ``row_at`` is the place of the row index in its
        location (a batch's errors start with it), ``None`` for a single row."""
        first = exc.errors()[0]
        location = list(first["loc"])
        row = None
        if row_at is not None and location and isinstance(location[row_at], int):
            row = int(location.pop(row_at))
        field = ".".join(str(part) for part in location) or "<record>"
        return InvalidRecordError(self.table, field, first["msg"], row=row)


def _dict_schema(model: type[Record]) -> core_schema.TypedDictSchema:
    """The model's fields as a plain-dict schema: same field schemas, same config."""
    schema = model.__pydantic_core_schema__
    if schema["type"] != "model":
        raise TypeError(f"{model.__name__}: expected a model schema, got {schema['type']}")
    inner = schema["schema"]
    if inner["type"] != "model-fields" or inner.get("computed_fields"):
        raise TypeError(f"{model.__name__}: only plain fields can be compiled to a dict schema")
    fields: dict[str, core_schema.TypedDictField] = {}
    for name, field in inner["fields"].items():
        if set(field) - _FIELD_KEYS:
            raise TypeError(f"{model.__name__}.{name}: unsupported field settings {set(field)}")
        required = field["schema"]["type"] != "default"
        fields[name] = core_schema.typed_dict_field(field["schema"], required=required)
    config = schema.get("config")
    return core_schema.typed_dict_schema(fields, extra_behavior="forbid", config=config, total=True)


#: Core schema types whose values orjson writes exactly as pydantic-core does.
_SCALARS = frozenset({"str", "int", "float", "bool", "none"})
#: Wrappers that keep the wrapped schema's value type.
_WRAPPERS = frozenset({"default", "nullable"})


def _plain_json(schema: Any) -> bool:
    """True when every value ``schema`` validates to is a JSON scalar of :data:`_SCALARS`."""
    kind = schema["type"]
    if kind in _SCALARS:
        return True
    if kind in _WRAPPERS:
        return _plain_json(schema["schema"])
    if kind == "literal":
        return all(type(value) in (str, int, bool, type(None)) for value in schema["expected"])
    return False


_CODECS: dict[str, RowCodec] = {}


def codec_for(table: str) -> RowCodec:
    """The compiled codec of ``table`` (built on first use); UnknownTableError otherwise."""
    codec = _CODECS.get(table)
    if codec is None:
        model = model_for(table)
        schema = _dict_schema(model)
        config = schema.get("config")
        codec = RowCodec(
            table,
            model,
            SchemaValidator(schema, config),
            SchemaValidator(core_schema.list_schema(schema), config),
            SchemaSerializer(schema, config),
            all(_plain_json(field["schema"]) for field in schema["fields"].values()),
        )
        _CODECS[table] = codec
    return codec

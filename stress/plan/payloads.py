"""Rows that look like a real agent system's observability data, drawn from a user's stream.

Agents and sessions are skewed (a few agents do most of the work), token counts and
durations are log-normal, and timestamps spread over the 30 days before a fixed epoch, so
retention has old ticks to fold. What a field draws depends only on the draws before it (an
optional field draws its presence first, then its value if present), so a row's content is a
pure function of the stream's position and never of time or shared state.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from stress.metadb import RECORD_MODELS
from stress.plan.draws import Draws

__all__ = ["EPOCH", "RowFactory", "row_factory"]

#: Timestamps are virtual: a wall-clock time would make every replay's rows differ.
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
_SPAN_S = 30 * 24 * 3600

AGENTS = tuple(f"agent-{name}" for name in ("ada", "bob", "cy", "dee", "eve", "fin", "gus", "hal"))
SOURCES = ("cli", "watchdog", "channel", "clone", "harvester", "mcp", "iroh", "cron")
TOOLS = ("read_file", "write_file", "bash", "search", "git_status", "run_tests", "fetch", "edit")
RUNTIMES = ("claude", "codex", "gemini", "local")
MODELS = ("opus", "sonnet", "haiku", "gpt-5", "o4-mini")
WORDS = ("deploy", "retry", "merge", "green", "flaky", "lock", "spool", "tick", "ok", "ack")

Field = Callable[[Draws], Any]


def _timestamp(draws: Draws) -> str:
    offset = draws.uniform() * _SPAN_S
    return (EPOCH - timedelta(seconds=offset)).isoformat(timespec="milliseconds")


def _choice(values: tuple[Any, ...]) -> Field:
    return lambda draws: values[draws.integer(0, len(values) - 1)]


def _skewed_choice(values: tuple[str, ...]) -> Field:
    return lambda draws: values[draws.skewed(len(values))]


def _text(draws: Draws) -> str:
    count = draws.integer(2, 12)
    start = draws.integer(0, len(WORDS) - 1)
    return " ".join(WORDS[(start + i * 7) % len(WORDS)] for i in range(count))


def _detail_json(draws: Draws) -> str:
    return orjson.dumps({"attempt": draws.integer(1, 4), "note": _text(draws)}).decode()


def _count(median: float) -> Field:
    return lambda draws: int(draws.lognormal(median, 1.0))


def _duration_ms(draws: Draws) -> float:
    return round(draws.lognormal(40.0, 1.2), 3)


def _session_id(draws: Draws) -> str:
    return f"sess-{draws.skewed(len(AGENTS))}-{draws.integer(1, 400)}"


def _sha(draws: Draws) -> str:
    return draws.hex_digits(40)


_BY_NAME: dict[str, Field] = {
    "agent": _skewed_choice(AGENTS),
    "from_agent": _skewed_choice(AGENTS),
    "to_agent": _skewed_choice(AGENTS),
    "source": _skewed_choice(SOURCES),
    "tool": _skewed_choice(TOOLS),
    "runtime": _skewed_choice(RUNTIMES),
    "model": _skewed_choice(MODELS),
    "session_id": _session_id,
    "input_tokens": _count(1800.0),
    "output_tokens": _count(400.0),
    "cached_input_tokens": _count(900.0),
    "cost_usd_micros": _count(12_000.0),
    "duration_ms": _duration_ms,
    "exit_code": lambda draws: 0 if draws.chance(0.93) else draws.integer(1, 2),
    "session_num": lambda draws: draws.integer(1, 400),
    "conflicts": lambda draws: draws.skewed(5),
    "peer_id_hash": lambda draws: draws.hex_digits(16),
    "from_sha": _sha,
    "to_sha": _sha,
    "commit_sha": _sha,
    "error_class": _choice(("io", "parse", "timeout", "auth", "network", "weird")),
    "success": lambda draws: draws.chance(0.95),
    "timeout_race": lambda draws: draws.chance(0.01),
}


def _field_for(name: str, annotation: Any) -> Field:
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith("ts_utc"):
        return _timestamp
    if name.endswith("_json"):
        return _detail_json
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return _choice(args)
    if type(None) in args:  # optional: present most of the time
        inner = _field_for(name, next(a for a in args if a is not type(None)))
        return lambda draws: inner(draws) if draws.chance(0.8) else None
    if annotation is bool:
        return lambda draws: draws.chance(0.5)
    if annotation is int:
        return lambda draws: draws.integer(0, 1000)
    if annotation is float:
        return _duration_ms
    return _text


class RowFactory:
    """Builds rows of one table: one field generator per model field, in declared order."""

    __slots__ = ("_fields", "table")

    def __init__(self, table: str) -> None:
        self.table = table
        model = RECORD_MODELS[table]
        self._fields = tuple(
            (name, _field_for(name, info.annotation)) for name, info in model.model_fields.items()
        )

    def make(self, draws: Draws) -> dict[str, Any]:
        return {name: generate(draws) for name, generate in self._fields}


_FACTORIES: dict[str, RowFactory] = {}


def row_factory(table: str) -> RowFactory:
    """The (cached) factory of ``table``'s rows."""
    factory = _FACTORIES.get(table)
    if factory is None:
        factory = _FACTORIES[table] = RowFactory(table)
    return factory

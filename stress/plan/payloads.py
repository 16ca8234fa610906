"""Rows that look like a real agent system's observability data, drawn from a user's stream.

Agents and sessions are skewed (a few agents do most of the work), token counts and
durations are log-normal, and timestamps spread over the 30 days before a fixed epoch, so
retention has old ticks to fold. What a field draws depends only on the draws before it (an
optional field draws its presence first, then its value if present), so a row's content is a
pure function of the stream's position and never of time or shared state.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any

import numpy as np

from stress.metadb import RECORD_MODELS
from stress.plan.columns import (
    EPOCH,
    WORDS,
    Chance,
    Choice,
    Column,
    Count,
    DetailJson,
    Duration,
    ExitCode,
    Hex,
    Integer,
    Optional,
    SessionId,
    Skewed,
    Text,
    Timestamp,
)
from stress.plan.draws import Draws

__all__ = ["EPOCH", "WORDS", "RowFactory", "row_factory"]

AGENTS = tuple(f"agent-{name}" for name in ("ada", "bob", "cy", "dee", "eve", "fin", "gus", "hal"))
SOURCES = ("cli", "watchdog", "channel", "clone", "harvester", "mcp", "iroh", "cron")
TOOLS = ("read_file", "write_file", "bash", "search", "git_status", "run_tests", "fetch", "edit")
RUNTIMES = ("claude", "codex", "gemini", "local")
MODELS = ("opus", "sonnet", "haiku", "gpt-5", "o4-mini")

_SHA = Hex(40)
_BY_NAME: dict[str, Column] = {
    "agent": Skewed(AGENTS),
    "from_agent": Skewed(AGENTS),
    "to_agent": Skewed(AGENTS),
    "source": Skewed(SOURCES),
    "tool": Skewed(TOOLS),
    "runtime": Skewed(RUNTIMES),
    "model": Skewed(MODELS),
    "session_id": SessionId(),
    "input_tokens": Count(1800.0),
    "output_tokens": Count(400.0),
    "cached_input_tokens": Count(900.0),
    "cost_usd_micros": Count(12_000.0),
    "duration_ms": Duration(),
    "exit_code": ExitCode(),
    "session_num": Integer(1, 400),
    "conflicts": Skewed(range(5)),
    "peer_id_hash": Hex(16),
    "from_sha": _SHA,
    "to_sha": _SHA,
    "commit_sha": _SHA,
    "error_class": Choice(("io", "parse", "timeout", "auth", "network", "weird")),
    "success": Chance(0.95),
    "timeout_race": Chance(0.01),
}


def _field_for(name: str, annotation: Any) -> Column:
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith("ts_utc"):
        return Timestamp()
    if name.endswith("_json"):
        return DetailJson()
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return Choice(args)
    if type(None) in args:  # optional: present most of the time
        return Optional(_field_for(name, next(a for a in args if a is not type(None))))
    if annotation is bool:
        return Chance(0.5)
    if annotation is int:
        return Integer(0, 1000)
    if annotation is float:
        return Duration()
    return Text()


class RowFactory:
    """Builds rows of one table: one field generator per model field, in declared order."""

    __slots__ = ("_columns", "_fields", "_layout", "_names", "table")

    def __init__(self, table: str) -> None:
        self.table = table
        model = RECORD_MODELS[table]
        self._fields = tuple(
            (name, _field_for(name, info.annotation)) for name, info in model.model_fields.items()
        )
        self._names = tuple(name for name, _ in self._fields)
        self._columns = tuple(column for _, column in self._fields)
        self._layout = RowLayout(self._columns)

    def make(self, draws: Draws) -> dict[str, Any]:
        return {name: column.draw(draws) for name, column in self._fields}

    def make_many(self, draws: Draws, count: int) -> list[dict[str, Any]]:
        """``count`` rows drawn a column at a time: the same rows as ``count`` calls of
        :meth:`make`, at several times the speed."""
        if count <= 0:
            return []
        held = draws.upcoming(count * self._layout.width)
        starts, used = self._layout.starts(held, count)
        rows = self.rows_at(held, starts)
        draws.skip(used)
        return rows

    @property
    def layout(self) -> RowLayout:
        return self._layout

    def rows_at(
        self, held: np.ndarray[Any, np.dtype[np.float64]], starts: np.ndarray[Any, Any]
    ) -> list[dict[str, Any]]:
        """The rows whose field starts within ``held`` are ``starts`` (rows x fields, from
        :class:`RowLayout`), a column at a time. ``held`` must run at least a row's
        :attr:`RowLayout.width` past the last row's start: a field absent from a row still
        reads its full width (the values are dropped)."""
        values = [
            column.column(held[starts[:, field, None] + np.arange(column.width)])
            for field, column in enumerate(self._columns)
        ]
        names = self._names
        # Every column has as many values as rows: zip's strict check would only cost time.
        return [dict(zip(names, row)) for row in zip(*values)]  # noqa: B905


_FIELD, _BRANCH = 0, 1


class RowLayout:
    """Where each field of each row of a batch starts among the batch's uniforms.

    A field with a branch (optional, exit code) takes one count of uniforms or another
    depending on its first one, so the rows after it move: those positions are found row by
    row, branch by branch, and every other field's follows from them in bulk.
    """

    __slots__ = ("_anchors", "_program", "_tail", "width")

    def __init__(self, columns: tuple[Column, ...]) -> None:
        #: The most uniforms a row can take (exactly what it takes when nothing branches).
        self.width = sum(column.width for column in columns)
        #: Per branch: (fixed uniforms before it, threshold, count below, count otherwise).
        self._program: list[tuple[int, float, int, int]] = []
        #: Per field: (_FIELD, k, offset): ``offset`` after the end of branch k (-1: the row's
        #: start); or (_BRANCH, k, 0): branch k itself.
        self._anchors: list[tuple[int, int, int]] = []
        gap = 0
        for column in columns:
            if column.branch is None:
                self._anchors.append((_FIELD, len(self._program) - 1, gap))
                gap += column.width
            else:
                self._anchors.append((_BRANCH, len(self._program), 0))
                self._program.append((gap, *column.branch))
                gap = 0
        self._tail = gap

    @property
    def branches(self) -> bool:
        """Whether a row's count of uniforms depends on its values (else it is :attr:`width`)."""
        return bool(self._program)

    def starts(
        self, held: np.ndarray[Any, np.dtype[np.float64]], count: int
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], int]:
        """Each row's field starts (count x fields) within ``held``, and the uniforms used."""
        if not self._program:
            rows = np.arange(count, dtype=np.int64) * self.width
            return self.field_starts(rows, [], []), count * self.width
        values = held.tolist()
        row_starts: list[int] = []
        branch_starts: list[int] = []
        branch_ends: list[int] = []
        position = 0
        for _ in range(count):
            row_starts.append(position)
            position = self.walk_row(values, position, branch_starts, branch_ends)
        return self.field_starts(row_starts, branch_starts, branch_ends), position

    def walk_row(
        self, values: list[float], position: int, branch_starts: list[int], branch_ends: list[int]
    ) -> int:
        """Where the row starting at ``values[position]`` ends; its branches' starts and ends
        are appended to the two lists."""
        for gap, threshold, below, otherwise in self._program:
            position += gap
            branch_starts.append(position)
            position += below if values[position] < threshold else otherwise
            branch_ends.append(position)
        return position + self._tail

    def field_starts(
        self,
        row_starts: Sequence[int] | np.ndarray[Any, np.dtype[np.int64]],
        branch_starts: list[int],
        branch_ends: list[int],
    ) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Each row's field starts (rows x fields), from the rows' starts and, for a layout
        with branches, what :meth:`walk_row` appended for each row in turn."""
        rows = np.asarray(row_starts, dtype=np.int64)
        count = len(rows)
        if not self._program:
            offsets = np.array([offset for _, _, offset in self._anchors], dtype=np.int64)
            return rows[:, None] + offsets[None, :]
        begins = np.array(branch_starts, dtype=np.int64).reshape(count, -1)
        ends = np.array(branch_ends, dtype=np.int64).reshape(count, -1)
        starts = np.empty((count, len(self._anchors)), dtype=np.int64)
        for field, (kind, branch, offset) in enumerate(self._anchors):
            if kind == _BRANCH:
                starts[:, field] = begins[:, branch]
            else:
                starts[:, field] = (rows if branch < 0 else ends[:, branch]) + offset
        return starts


_FACTORIES: dict[str, RowFactory] = {}


def row_factory(table: str) -> RowFactory:
    """The (cached) factory of ``table``'s rows."""
    factory = _FACTORIES.get(table)
    if factory is None:
        factory = _FACTORIES[table] = RowFactory(table)
    return factory

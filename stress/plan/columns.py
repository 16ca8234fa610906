"""The kinds of field a row draws, each drawn one row at a time or a whole column at once.

A kind draws one value from a user's stream (:meth:`Column.draw`, the reference) or, for a
batch, a column of values from a block of the same uniforms (:meth:`Column.column`), and the
two agree value for value: a batch's rows are the rows the same stream would give one by one.

Agreement across machines as well as between the two paths rules out numpy's vectorised
transcendental functions (``np.log``, ``np.cos``, ``np.exp``, ``np.power``), whose SIMD
versions differ from the C library in the last bit on some CPUs. A column does in numpy only
what IEEE 754 rounds exactly everywhere (``+ - * /``, ``sqrt``, comparisons, truncation) and
calls :mod:`math` per value for the rest, exactly as :meth:`Column.draw` does.
"""

from __future__ import annotations

import math
import struct
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
import orjson

from stress.plan.draws import Draws

__all__ = [
    "EPOCH",
    "WORDS",
    "Chance",
    "Choice",
    "Column",
    "Count",
    "DetailJson",
    "Duration",
    "ExitCode",
    "Hex",
    "Integer",
    "Optional",
    "SessionId",
    "Skewed",
    "Text",
    "Timestamp",
    "Uniforms",
]

#: A block of uniforms, one row per drawn row, one column per uniform the kind takes.
Uniforms = np.ndarray[Any, np.dtype[np.float64]]

#: Timestamps are virtual: a wall-clock time would make every replay's rows differ.
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
_SPAN_S = 30 * 24 * 3600
_EPOCH_US = np.datetime64(EPOCH.replace(tzinfo=None), "us").astype(np.int64)
_TAU = 2.0 * math.pi  # as Draws.lognormal computes it: (2.0 * pi) * u
_AGENT_SLOTS = 8  # the skew of a session's agent (len(AGENTS) in payloads)

WORDS = ("deploy", "retry", "merge", "green", "flaky", "lock", "spool", "tick", "ok", "ack")


def _indexes(u: Uniforms, low: int, high: int) -> Uniforms:
    """:meth:`Draws.integer` over a column: ``u * n`` and truncation are exact in numpy."""
    span = high - low
    return low + np.minimum((u * (span + 1)).astype(np.int64), span)


class Column(ABC):
    """One field's kind: how many uniforms it takes and what it makes of them."""

    #: Uniforms one value takes (the most it can take, when it has a :attr:`branch`).
    width: int = 1
    #: For a kind whose count depends on its first uniform (an optional field, an exit code):
    #: (threshold, count when that uniform is below it, count otherwise); None when fixed.
    branch: tuple[float, int, int] | None = None

    @abstractmethod
    def draw(self, draws: Draws) -> Any:
        """One value from the stream (the reference the column must match)."""

    @abstractmethod
    def column(self, u: Uniforms) -> list[Any]:
        """The values of ``u``'s rows; ``u`` has :attr:`width` uniforms per row."""


class Timestamp(Column):
    """A time in the 30 days before :data:`EPOCH`, ISO 8601 to the millisecond."""

    def draw(self, draws: Draws) -> str:
        offset = draws.uniform() * _SPAN_S
        return (EPOCH - timedelta(seconds=offset)).isoformat(timespec="milliseconds")

    def column(self, u: Uniforms) -> list[Any]:
        micros = timedelta_micros(u[:, 0] * _SPAN_S)
        stamps = (_EPOCH_US - micros).astype("datetime64[us]").astype("datetime64[ms]")
        return [text + "+00:00" for text in np.datetime_as_string(stamps).tolist()]


def timedelta_micros(seconds: Uniforms) -> np.ndarray[Any, np.dtype[np.int64]]:
    """``timedelta(seconds=s)`` in whole microseconds, for non-negative ``s``, in bulk.

    CPython's own rule: the whole seconds exactly, then the fraction times 10**6 split into
    its whole microseconds and a remainder rounded half to even on the running total.
    """
    whole_s = np.floor(seconds)
    fraction_us = (seconds - whole_s) * 1e6
    whole_us = np.floor(fraction_us)
    left = fraction_us - whole_us
    odd = whole_us.astype(np.int64) & 1
    rounded = (left > 0.5) | ((left == 0.5) & (odd == 1))
    micros: np.ndarray[Any, np.dtype[np.int64]] = (
        whole_s.astype(np.int64) * 1_000_000 + whole_us.astype(np.int64) + rounded
    )
    return micros


class Choice(Column):
    """One of ``values``, each as likely."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = tuple(values)

    def draw(self, draws: Draws) -> Any:
        return self.values[draws.integer(0, len(self.values) - 1)]

    def column(self, u: Uniforms) -> list[Any]:
        values = self.values
        return [values[i] for i in _indexes(u[:, 0], 0, len(values) - 1).tolist()]


@cache
def _skew_bounds(count: int) -> tuple[float, ...] | None:
    """The least uniform whose :meth:`Draws.skewed` index is 1, 2, ... ``count - 1``.

    With them a column of indexes is one ``searchsorted``, with no ``pow`` per value. Each
    bound is found by bisection over the doubles in [0, 1) with the scalar formula itself,
    then checked against it over a window of doubles either side (a ``pow`` a bit off near a
    bound could only matter there); None if any disagrees, and the column keeps ``pow``.
    """
    bounds = []
    for k in range(1, count):
        low, high = 0, _ONE_BITS  # the answer's bits lie in (low, high]
        while high - low > 1:
            middle = (low + high) // 2
            if _skewed(_double(middle), count) >= k:
                high = middle
            else:
                low = middle
        for bits in range(high - _CHECKED_ULPS, high + _CHECKED_ULPS):
            if (_skewed(_double(bits), count) >= k) != (bits >= high):
                return None
        bounds.append(_double(high))
    return tuple(bounds)


_ONE_BITS = int(np.float64(1.0).view(np.int64))
_CHECKED_ULPS = 256


def _double(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<q", bits))[0])


def _skewed(u: float, count: int) -> int:
    return min(int(count * u**2.5), count - 1)  # Draws.skewed's formula, power 2.5


def _skewed_indexes(u: Uniforms, count: int) -> list[int]:
    bounds = _skew_bounds(count)
    if bounds is None:
        return [_skewed(x, count) for x in u.tolist()]
    return list(np.searchsorted(bounds, u, side="right").tolist())


class Skewed(Column):
    """One of ``values``, the first far more likely (hot agents, hot tools)."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = tuple(values)

    def draw(self, draws: Draws) -> Any:
        return self.values[draws.skewed(len(self.values))]

    def column(self, u: Uniforms) -> list[Any]:
        values = self.values
        return [values[i] for i in _skewed_indexes(u[:, 0], len(values))]


class Integer(Column):
    """An integer in [low, high]."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def draw(self, draws: Draws) -> int:
        return draws.integer(self.low, self.high)

    def column(self, u: Uniforms) -> list[Any]:
        return list(_indexes(u[:, 0], self.low, self.high).tolist())


class Chance(Column):
    """True with ``probability``."""

    def __init__(self, probability: float) -> None:
        self.probability = probability

    def draw(self, draws: Draws) -> bool:
        return draws.chance(self.probability)

    def column(self, u: Uniforms) -> list[Any]:
        return list((u[:, 0] < self.probability).tolist())


@cache
def _texts() -> tuple[str, ...]:
    """Every text :class:`Text` can make, by ``(words - 2) * len(WORDS) + first word``."""
    return tuple(
        " ".join(WORDS[(start + i * 7) % len(WORDS)] for i in range(count))
        for count in range(2, 13)
        for start in range(len(WORDS))
    )


def _text_index(draws: Draws) -> int:
    count = draws.integer(2, 12)
    start = draws.integer(0, len(WORDS) - 1)
    return (count - 2) * len(WORDS) + start


class Text(Column):
    """2 to 12 words of :data:`WORDS`; two uniforms (the count, the first word)."""

    width = 2

    def draw(self, draws: Draws) -> str:
        return _texts()[_text_index(draws)]

    def column(self, u: Uniforms) -> list[Any]:
        which = (_indexes(u[:, 0], 2, 12) - 2) * len(WORDS) + _indexes(u[:, 1], 0, len(WORDS) - 1)
        texts = _texts()
        return [texts[i] for i in which.tolist()]


@cache
def _details() -> tuple[str, ...]:
    """Every ``detail_json`` :class:`DetailJson` can make, by ``(attempt - 1, text)``."""
    return tuple(
        orjson.dumps({"attempt": attempt, "note": note}).decode()
        for attempt in range(1, 5)
        for note in _texts()
    )


class DetailJson(Column):
    """A small JSON object: an attempt number and a note; three uniforms."""

    width = 3

    def draw(self, draws: Draws) -> str:
        attempt = draws.integer(1, 4)
        return _details()[(attempt - 1) * len(_texts()) + _text_index(draws)]

    def column(self, u: Uniforms) -> list[Any]:
        attempts = _indexes(u[:, 0], 1, 4) - 1
        notes = (_indexes(u[:, 1], 2, 12) - 2) * len(WORDS) + _indexes(u[:, 2], 0, len(WORDS) - 1)
        details = _details()
        return [details[i] for i in (attempts * len(_texts()) + notes).tolist()]


def _lognormals(u: Uniforms, median: float, sigma: float) -> Uniforms:
    """:meth:`Draws.lognormal` over a column: log, cos and exp per value from :mod:`math`."""
    count = len(u)
    logs = np.fromiter(map(math.log, (1.0 - u[:, 0]).tolist()), np.float64, count)
    cosines = np.fromiter(map(math.cos, (_TAU * u[:, 1]).tolist()), np.float64, count)
    normal = np.sqrt(-2.0 * logs) * cosines
    exps = np.fromiter(map(math.exp, (sigma * normal).tolist()), np.float64, count)
    values: Uniforms = median * exps
    return values


class Count(Column):
    """A log-normal count (tokens, micro-dollars) around ``median``; two uniforms."""

    width = 2

    def __init__(self, median: float) -> None:
        self.median = median

    def draw(self, draws: Draws) -> int:
        return int(draws.lognormal(self.median, 1.0))

    def column(self, u: Uniforms) -> list[Any]:
        return list(_lognormals(u, self.median, 1.0).astype(np.int64).tolist())


class Duration(Column):
    """A log-normal duration in ms around 40, to the microsecond; two uniforms."""

    width = 2

    def draw(self, draws: Draws) -> float:
        return round(draws.lognormal(40.0, 1.2), 3)

    def column(self, u: Uniforms) -> list[Any]:
        return [round(value, 3) for value in _lognormals(u, 40.0, 1.2).tolist()]


@cache
def _sessions() -> tuple[str, ...]:
    return tuple(f"sess-{agent}-{n}" for agent in range(_AGENT_SLOTS) for n in range(1, 401))


class SessionId(Column):
    """``sess-<agent slot>-<1..400>``, the agent skewed; two uniforms."""

    width = 2

    def draw(self, draws: Draws) -> str:
        return f"sess-{draws.skewed(_AGENT_SLOTS)}-{draws.integer(1, 400)}"

    def column(self, u: Uniforms) -> list[Any]:
        agents = _skewed_indexes(u[:, 0], _AGENT_SLOTS)
        numbers = _indexes(u[:, 1], 1, 400).tolist()
        sessions = _sessions()
        return [sessions[a * 400 + n - 1] for a, n in zip(agents, numbers, strict=True)]


class Hex(Column):
    """``digits`` hex digits (a SHA, a peer hash); one uniform per 8 digits."""

    def __init__(self, digits: int) -> None:
        self.digits = digits
        self.width = (digits + 7) // 8

    def draw(self, draws: Draws) -> str:
        return draws.hex_digits(self.digits)

    def column(self, u: Uniforms) -> list[Any]:
        words = (u * 2.0**32).astype(">u4")  # int(u * 2**32) per uniform, big-endian
        text = words.tobytes().hex()
        step, digits = 8 * self.width, self.digits
        return [text[at : at + digits] for at in range(0, len(text), step)]


class ExitCode(Column):
    """0 most of the time, else 1 or 2: one uniform, and a second when it is not 0."""

    width = 2
    branch = (0.93, 1, 2)

    def draw(self, draws: Draws) -> int:
        return 0 if draws.chance(0.93) else draws.integer(1, 2)

    def column(self, u: Uniforms) -> list[Any]:
        codes = _indexes(u[:, 1], 1, 2).tolist()
        return [
            0 if ok else code for ok, code in zip((u[:, 0] < 0.93).tolist(), codes, strict=True)
        ]


class Optional(Column):
    """``inner``'s value most of the time, else None: the presence first, then the value."""

    def __init__(self, inner: Column) -> None:
        if inner.branch is not None:
            raise ValueError("an optional field's value must take a fixed count of uniforms")
        self.inner = inner
        self.width = 1 + inner.width
        self.branch = (0.8, self.width, 1)

    def draw(self, draws: Draws) -> Any:
        return self.inner.draw(draws) if draws.chance(0.8) else None

    def column(self, u: Uniforms) -> list[Any]:
        # The value is made for every row and kept where present: cheaper than gathering.
        values = self.inner.column(u[:, 1:])
        present = (u[:, 0] < 0.8).tolist()
        return [value if keep else None for value, keep in zip(values, present, strict=True)]

"""Fault specs: what ``STRESS_FAULTS`` asks the run to inject, and how often.

The spec is a comma-separated list of faults::

    kill=every:DURATION                        SIGKILL one worker process
    lock=every:DURATION:hold:DURATION[:db:N]   hold BEGIN IMMEDIATE on a database

with durations a number and a unit, ``ms``, ``s``, ``m`` or ``h`` (``500ms``, ``2s``, ``1.5m``).
For example ``kill=every:20s,lock=every:30s:hold:12s`` kills a worker every 20 s and every
30 s write-locks a database for 12 s. A lock picks its database from the fault's own stream
unless ``db:N`` pins it. The first injection of each fault comes one period into the run.

The settings model parses the text once, when it is built, into a :class:`Faults` (the text
as given, which summary.json and replay.json record, and its parsed faults) that every
consumer reads; :func:`stress.engine.faultplan.fault_plan` then checks the faults against the
rest of the settings (a kill needs worker processes, a lock must outlast the busy timeout).
Both raise :class:`ConfigError` naming the variable or flag, the value and this grammar.
Injection itself is :mod:`stress.engine.injector`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from stress.errors import ConfigError

__all__ = [
    "FAULTS_GRAMMAR",
    "FAULT_KINDS",
    "KILL",
    "LOCK",
    "FaultKind",
    "FaultSpec",
    "Faults",
    "KillFault",
    "LockFault",
    "parse_duration",
    "parse_faults",
]

#: The kinds of fault, spelled here once: the grammar, the injector and replay.json use them.
FaultKind = Literal["kill", "lock"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
KILL: FaultKind = "kill"
LOCK: FaultKind = "lock"

FAULTS_GRAMMAR = (
    "must be comma-separated faults, each kill=every:DURATION or "
    "lock=every:DURATION:hold:DURATION[:db:N], a DURATION being a number with ms, s, m or h "
    "(e.g. kill=every:20s,lock=every:30s:hold:12s)"
)

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Per kind: the keys it needs, and the keys it may have.
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    KILL: (("every",), ()),
    LOCK: (("every", "hold"), ("db",)),
}


@dataclass(frozen=True)
class KillFault:
    """SIGKILL a worker process, picked from the fault's stream, every ``every_s`` seconds."""

    kind: ClassVar[FaultKind] = KILL
    every_s: float


@dataclass(frozen=True)
class LockFault:
    """Hold ``BEGIN IMMEDIATE`` on a database for ``hold_s`` seconds, every ``every_s``."""

    kind: ClassVar[FaultKind] = LOCK
    every_s: float
    hold_s: float
    #: The database locked every time; None = picked from the fault's stream each time.
    database: int | None = None


FaultSpec = KillFault | LockFault


@dataclass(frozen=True)
class Faults:
    """A fault spec, parsed once: the text as given and the faults it asks for, in order.

    The text is what summary.json and replay.json record (the settings model serialises this
    as ``text``), so a replay re-parses exactly what the run was given.
    """

    text: str
    specs: tuple[FaultSpec, ...]

    @classmethod
    def parse(cls, text: str, name: str = "STRESS_FAULTS") -> Faults:
        """``text`` parsed; raises :class:`ConfigError` labelled ``name``, as parse_faults."""
        return cls(text, parse_faults(text, name))


class _Bad(Exception):
    """One problem with the spec text; parse_faults() turns it into a ConfigError."""


def parse_faults(text: str, name: str = "STRESS_FAULTS") -> tuple[FaultSpec, ...]:
    """The faults of a spec, in order (empty text: none); ``name`` labels errors."""
    if not text.strip():
        return ()
    try:
        return tuple(_parse_fault(part.strip()) for part in text.split(","))
    except _Bad as problem:
        raise ConfigError(name, text, f"{FAULTS_GRAMMAR}; {problem}") from None


def parse_duration(text: str) -> float:
    """``500ms``, ``2s``, ``1.5m``, ``2h`` in seconds; raises ValueError for anything else.

    The one duration syntax of the simulator: fault specs and ``STRESS_DURATION`` use it.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration (a number with ms, s, m or h, e.g. 2s)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _parse_fault(part: str) -> FaultSpec:
    kind, sep, rest = part.partition("=")
    kind = kind.strip()
    if not sep or kind not in _KEYS:
        raise _Bad(f"{part!r} is not {' or '.join(f'{known}=...' for known in _KEYS)}")
    fields = _pairs(part, rest)
    required, optional = _KEYS[kind]
    unknown = sorted(set(fields) - set(required) - set(optional))
    if unknown:
        raise _Bad(f"{part!r}: {kind} takes no {unknown[0]!r}")
    absent = [key for key in required if key not in fields]
    if absent:
        raise _Bad(f"{part!r}: {kind} needs {absent[0]}:DURATION")
    every = _positive_duration(part, fields["every"])
    if kind == KILL:
        return KillFault(every)
    database = _database(part, fields["db"]) if "db" in fields else None
    return LockFault(every, _positive_duration(part, fields["hold"]), database)


def _pairs(part: str, rest: str) -> dict[str, str]:
    items = [item.strip() for item in rest.split(":")]
    if len(items) % 2:
        raise _Bad(f"{part!r}: expected key:value pairs after '='")
    fields: dict[str, str] = {}
    for key, value in zip(items[0::2], items[1::2], strict=True):
        if key in fields:
            raise _Bad(f"{part!r}: {key!r} appears twice")
        fields[key] = value
    return fields


def _positive_duration(part: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise _Bad(f"{part!r}: {error}") from None
    if seconds <= 0:
        raise _Bad(f"{part!r}: {text!r} must be above 0")
    return seconds


def _database(part: str, text: str) -> int:
    if not text.isdigit():
        raise _Bad(f"{part!r}: db:{text} must name a database index (0, 1, ...)")
    return int(text)

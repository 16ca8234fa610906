"""A failure's signature: the same bug found by two seeds has one name.

A failing run is described by a few *parts*: why it stopped (its :class:`StopReason`), which
check failed (a word of the :class:`Check` vocabulary), and where that is known the op kind,
the table and the error class involved. The signature is a short hash of those parts and of
nothing else: seeds, ids, times, counts, paths and messages never go in, so two seeds that
trip the same defect, or a shrunk run with fewer users, name it the same way, while a
different check, table, op kind or error class is a different signature. A shrunk run may
meet fewer rows of a defect that spanned several tables, all in one: it then names that
table, and :meth:`FailureParts.narrows` says it is still the same failure.

Choosing the parts canonically (which of several failing tables, which of several failed
checks) is the producer's job (:mod:`stress.engine.failure`); this module only names them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from stress.outcomes import StopReason

__all__ = ["SIGNATURE_HEX", "Check", "FailureParts", "invariant_check", "is_check"]

#: Hex digits of a signature: 48 bits, so two different failures of one project collide with
#: a chance of about n**2 / 2**49 (negligible for thousands of distinct failures).
SIGNATURE_HEX = 12

#: A named invariant's name (``invariant:retention``): lower-case words, digits, ``-``, ``_``.
_INVARIANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


class Check(StrEnum):
    """Which check failed: the vocabulary of a failure's ``check`` part."""

    #: An acknowledged (or spooled) row is absent from the store and its spool.
    MISSING = "missing"
    #: An acknowledged row is present under its id with different content.
    CHANGED = "changed"
    #: The store holds a row no user wrote.
    UNACCOUNTED = "unaccounted"
    #: ``PRAGMA integrity_check`` (or ``quick_check``) failed.
    INTEGRITY = "integrity"
    #: A database could not be read at all (corrupt or gone).
    UNREADABLE = "unreadable"
    #: A worker process died.
    CRASH = "crash"
    #: The harness itself raised (an unexpected exception in a user or the coordinator).
    HARNESS_ERROR = "harness_error"
    #: No user completed an op for longer than the no-progress bound.
    STALLED = "stalled"
    #: A resource stop (a pause held too long, a full disk).
    RESOURCE = "resource"
    #: A threshold the run was told to hold (latency, throughput) was not held.
    THRESHOLD = "threshold"
    #: A named invariant of a longer run (the soak's); spelled ``invariant:NAME``.
    INVARIANT = "invariant"


def invariant_check(name: str) -> str:
    """The check part of a named invariant: ``invariant:NAME`` (e.g. ``invariant:retention``)."""
    if not _INVARIANT_NAME.fullmatch(name):
        raise ValueError(
            f"invariant name {name!r}: must be lower-case letters, digits, - or _ (e.g. retention)"
        )
    return f"{Check.INVARIANT}:{name}"


def is_check(text: str) -> bool:
    """Whether ``text`` is a word of the vocabulary, or ``invariant:NAME``."""
    if text in Check.__members__.values():
        return True
    head, colon, name = text.partition(":")
    return head == Check.INVARIANT and bool(colon) and bool(_INVARIANT_NAME.fullmatch(name))


@dataclass(frozen=True)
class FailureParts:
    """The parts a failure's signature is made of; None where a part does not apply."""

    stop_reason: str
    check: str
    #: The op kind involved (``single_insert``, ``bulk_insert``, ...), when known.
    op: str | None = None
    #: The table involved, when known.
    table: str | None = None
    #: The class of the error involved: an exception's class name or a store error class,
    #: never its message (messages carry ids, paths and times).
    error_class: str | None = None

    def __post_init__(self) -> None:
        if self.stop_reason not in StopReason.__members__.values():
            known = ", ".join(StopReason)
            raise ValueError(f"stop_reason {self.stop_reason!r}: must be one of {known}")
        if not is_check(self.check):
            known = ", ".join(Check)
            raise ValueError(f"check {self.check!r}: must be one of {known}, or invariant:NAME")

    def canonical(self) -> str:
        """The parts as canonical JSON (sorted keys, no spaces): what the hash is taken of."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def signature(self) -> str:
        """A short hash of the parts: :data:`SIGNATURE_HEX` hex digits of their SHA-256."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:SIGNATURE_HEX]

    @classmethod
    def of(cls, failure: Mapping[str, Any]) -> FailureParts:
        """The parts of a summary's ``failure`` block."""
        return cls(
            str(failure["stop_reason"]),
            str(failure["check"]),
            failure.get("op"),
            failure.get("table"),
            failure.get("error_class"),
        )

    def narrows(self, target: FailureParts) -> bool:
        """Whether this is ``target``'s failure, or the same failure confined to fewer tables
        or op kinds.

        A null table (op) means the failing rows spanned several: a smaller run of the same
        defect meets fewer rows, which may all sit in one table, and names it. Everything
        else (stop reason, check, error class) must be equal, and a table (op) the target
        names must be the same one: a failure elsewhere is another bug.
        """
        same = (self.stop_reason, self.check, self.error_class) == (
            target.stop_reason,
            target.check,
            target.error_class,
        )
        return same and all(
            wide is None or wide == narrow
            for wide, narrow in ((target.table, self.table), (target.op, self.op))
        )

    def readable(self) -> str:
        """The parts for a person: ``InvariantViolation/missing ticks via single_insert``."""
        text = f"{self.stop_reason}/{self.check}"
        if self.table is not None:
            text += f" {self.table}"
        if self.op is not None:
            text += f" via {self.op}"
        if self.error_class is not None:
            text += f" ({self.error_class})"
        return text

"""Where each user is in its stream, kept exact across a worker killed with SIGKILL.

A restarted worker's users must continue their own streams from the next op, and the run's
replay must still verify. That needs, per user and after *every* op (a report every second
would lose up to a second of ops, which the restarted user would then re-plan differently):
the ops taken from the plan, the op stream's position and the digest chain's value. Three
pieces keep them, written in this order after each op, so a kill between any two leaves a
consistent restart point:

1. ``plans/user-<id>.marks``: one line ``S <index>`` or ``K <index>`` per op that was
   substituted (disk budget) or skipped (latency limit), appended unbuffered. Rare.
2. ``plans/user-<id>.digests``: the op's 8-byte digest, appended unbuffered (one ``write``
   system call, about 1 us; no fsync: the page cache survives the process, and a machine crash
   ends the run anyway).
3. The user's *progress slot* in shared memory (:class:`ProgressSlots`): ``(ops, consumed,
   digest state)``, the commit point. Shared memory belongs to the coordinator, so it outlives
   the worker; a store is a memory copy, about 0.2 us.

On restart the coordinator reads the slot, cuts the digest file to that many records and drops
marks at or past it (the op in flight is re-run, so its fate is decided again), and hands the
worker a :class:`ResumePoint`. The worker jumps the op stream to ``consumed`` in O(1) (PCG64
``advance``) instead of re-planning every past op, which for a long soak of bulk inserts could
take minutes. The op in flight at the kill may have reached the store: it runs again, so the
store sees it at least once (the run's ledger marks it indeterminate).
"""

from __future__ import annotations

import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "DIGEST_BYTES",
    "ProgressSlots",
    "ResumePoint",
    "UserJournal",
    "digests_path",
    "marks_path",
    "read_marks",
    "resume_point",
]

DIGEST_BYTES = 8

# ops, consumed, digest state, ops again. struct packs field by field in this order, so the
# second ``ops`` is written last and a slot torn by a kill never shows two equal ``ops``.
_SLOT = struct.Struct("<QQ16sQ")
#: Two slots per user, written alternately: a torn one leaves the previous one intact.
SLOT_PAIR_BYTES = 2 * _SLOT.size

SUBSTITUTED = "S"
SKIPPED = "K"


def digests_path(plans_dir: Path, user_id: int) -> Path:
    return plans_dir / f"user-{user_id}.digests"


def marks_path(plans_dir: Path, user_id: int) -> Path:
    return plans_dir / f"user-{user_id}.marks"


@dataclass(frozen=True)
class ResumePoint:
    """Where a restarted user continues."""

    #: Ops taken from the plan (run, substituted or skipped); the next op has this index.
    ops: int
    #: Uniforms of the op stream used by those ops.
    consumed: int
    #: The plan digest chain's value after them.
    digest_state: bytes
    substitutions: tuple[int, ...] = ()
    skipped: tuple[int, ...] = ()


class ProgressSlots:
    """Each user's last committed ``(ops, consumed, digest state)``, in shared memory.

    ``cells`` is any writable buffer of ``users * SLOT_PAIR_BYTES`` bytes: a multiprocess
    ``RawArray("B", n)`` shared with the workers, or a ``bytearray`` for threads.
    """

    def __init__(self, cells: Any, users: int) -> None:
        self._cells = cells
        self._users = users

    @classmethod
    def allocate(cls, context: Any, users: int) -> ProgressSlots:
        """Slots for user ids ``0 .. users - 1`` in ``context``'s shared memory."""
        return cls(context.RawArray("B", max(users, 1) * SLOT_PAIR_BYTES), users)

    def commit(self, user_id: int, ops: int, consumed: int, state: bytes) -> None:
        offset = user_id * SLOT_PAIR_BYTES + (ops % 2) * _SLOT.size
        _SLOT.pack_into(self._cells, offset, ops, consumed, state, ops)

    def read(self, user_id: int) -> tuple[int, int, bytes] | None:
        """The newest intact slot of ``user_id``, or None if it never committed an op."""
        best: tuple[int, int, bytes] | None = None
        for half in (0, 1):
            offset = user_id * SLOT_PAIR_BYTES + half * _SLOT.size
            ops, consumed, state, check = _SLOT.unpack_from(self._cells, offset)
            if ops == check and ops > 0 and (best is None or ops > best[0]):
                best = (ops, consumed, bytes(state))
        return best

    def __getstate__(self) -> tuple[Any, int]:
        return (self._cells, self._users)

    def __setstate__(self, state: tuple[Any, int]) -> None:
        self._cells, self._users = state


class UserJournal:
    """One user's writer of steps 1 and 3 above (the runner writes the digest, step 2)."""

    __slots__ = ("_marks", "_slots", "_user_id")

    def __init__(self, slots: ProgressSlots, user_id: int, marks: BinaryIO) -> None:
        self._slots = slots
        self._user_id = user_id
        #: Opened unbuffered (``buffering=0``): each mark is one write system call.
        self._marks = marks

    def mark(self, index: int, skipped: bool) -> None:
        self._marks.write(f"{SKIPPED if skipped else SUBSTITUTED} {index}\n".encode("ascii"))

    def commit(self, ops: int, consumed: int, state: bytes) -> None:
        self._slots.commit(self._user_id, ops, consumed, state)


def read_marks(path: Path, below: int | None = None) -> tuple[list[int], list[int]]:
    """Substituted and skipped op indexes in a marks file (only those under ``below``)."""
    substituted: list[int] = []
    skipped: list[int] = []
    if not path.exists():
        return substituted, skipped
    for line in path.read_text(encoding="ascii").splitlines():
        kind, _, text = line.partition(" ")
        # A line cut short by a kill has no newline and may be partial: the op it marks
        # is the one in flight, which below= excludes anyway.
        if not text.isdigit():
            continue
        index = int(text)
        if below is not None and index >= below:
            continue
        (substituted if kind == SUBSTITUTED else skipped).append(index)
    return substituted, skipped


def resume_point(slots: ProgressSlots, plans_dir: Path, user_id: int) -> ResumePoint | None:
    """Cut ``user_id``'s side files back to its last commit and say where it resumes.

    None when the user never committed an op: it starts afresh (its files are rewritten).
    """
    found = slots.read(user_id)
    ops = 0 if found is None else found[0]
    digests = digests_path(plans_dir, user_id)
    if digests.exists():
        with digests.open("r+b") as handle:
            handle.truncate(ops * DIGEST_BYTES)
    marks = marks_path(plans_dir, user_id)
    substituted, skipped = read_marks(marks, below=ops)
    lines = [f"{SUBSTITUTED} {i}\n" for i in substituted] + [f"{SKIPPED} {i}\n" for i in skipped]
    _write_atomic(marks, "".join(lines))
    if found is None:
        return None
    return ResumePoint(ops, found[1], found[2], tuple(substituted), tuple(skipped))


def _write_atomic(path: Path, text: str) -> None:
    # Not mkstemp: its 0600 mode would make this artifact less readable than its siblings.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    os.replace(temp, path)

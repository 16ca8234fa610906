"""A user's random stream, buffered so one draw costs a list index, not a numpy call.

Every choice an operation makes comes from here, in a fixed order, so a user's operation
sequence is a pure function of its seed. The stream is a ``numpy.random.Generator`` over
``PCG64``, read in blocks of uniforms; each distribution below consumes a fixed number of
uniforms per draw, so how many ops ran, or when, never shifts what a later op draws.
Calling numpy per scalar costs about a microsecond; a bulk insert of 10,000 rows draws
~100,000 values, and the single-insert hot path must stay within 15% of a bare store loop.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import numpy as np

from stress.faults import KILL, LOCK, FaultKind

__all__ = [
    "Draws",
    "arrival_seed_sequence",
    "between",
    "database_seed_sequence",
    "fault_seed_sequence",
    "mutant_seed_sequence",
    "user_seed_sequence",
]

_BLOCK = 1024
#: Spawn-key prefix of per-database streams: users have 1-tuples, databases 2-tuples, so the
#: two families can never share a stream whatever the ids.
_DATABASE_KEY = 0xDB
#: Spawn-key prefix of per-user arrival streams (open-loop mode): a family of its own, so
#: drawing arrival times never moves the user's op stream, and closed and open runs of one
#: seed plan the same ops.
_ARRIVAL_KEY = 0xA7
#: Spawn-key prefix of the fault injector's streams (:mod:`stress.engine.injector`). The family's
#: root ``(0xFA,)`` is a 1-tuple and so *is* user 250's stream: only its descendants
#: ``(0xFA, kind, i)``, one per fault of the spec, are ever drawn from.
_FAULT_KEY = 0xFA
#: Spawn-key prefix of per-user mutant streams (``STRESS_MUTANT``): a family of its own, so a
#: mutant's draws never move the user's op stream, and a run with a mutant plans the same ops
#: as one without.
_MUTANT_KEY = 0x3E
#: Each kind's place in the family's spawn key: fixed, so a kind added later moves no stream.
_FAULT_KINDS: dict[FaultKind, int] = {KILL: 0, LOCK: 1}


def user_seed_sequence(global_seed: int, user_id: int) -> np.random.SeedSequence:
    """The stream of one user: depends on nothing but the global seed and the user's id."""
    return np.random.SeedSequence(global_seed, spawn_key=(user_id,))


def arrival_seed_sequence(global_seed: int, user_id: int) -> np.random.SeedSequence:
    """The stream of one user's Poisson arrival gaps in open-loop mode."""
    return np.random.SeedSequence(global_seed, spawn_key=(_ARRIVAL_KEY, user_id))


def mutant_seed_sequence(global_seed: int, user_id: int) -> np.random.SeedSequence:
    """The stream from which a store mutant decides when to strike, one per user.

    A replay or a shrink that keeps a user keeps its stream, so the mutant strikes at the
    same write of the same op.
    """
    return np.random.SeedSequence(global_seed, spawn_key=(_MUTANT_KEY, user_id))


def database_seed_sequence(global_seed: int, database_idx: int) -> np.random.SeedSequence:
    """The stream that seeds one database's initial rows."""
    return np.random.SeedSequence(global_seed, spawn_key=(_DATABASE_KEY, database_idx))


def fault_seed_sequence(global_seed: int, kind: FaultKind, index: int) -> np.random.SeedSequence:
    """The target stream of the ``index``-th fault of ``kind`` (``kill``, ``lock``) in the spec.

    A descendant of ``SeedSequence(global_seed, spawn_key=(0xFA,))``: the faults' own family.
    """
    return np.random.SeedSequence(global_seed, spawn_key=(_FAULT_KEY, _FAULT_KINDS[kind], index))


def between(u: float, low: float, high: float) -> float:
    """What :meth:`Draws.between` makes of the uniform ``u``."""
    value = low + (high - low) * u
    # For u within an ulp of 1 the product rounds up to ``high`` itself.
    return value if value < high or low == high else math.nextafter(high, low)


class Draws:
    """Uniform-based draws from one generator; every method consumes a fixed count."""

    __slots__ = ("_array", "_buffer", "_generator", "_next", "consumed")

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._generator = np.random.Generator(np.random.PCG64(seed))
        self._buffer: list[float] = []
        #: The buffer as an array (same values), which bulk draws read without converting.
        self._array: np.ndarray[Any, np.dtype[np.float64]] = np.empty(0)
        self._next = 0
        #: Uniforms consumed so far (part of the plan's digest: a drift shows at once).
        self.consumed = 0

    @classmethod
    def resumed(cls, seed: np.random.SeedSequence, consumed: int) -> Draws:
        """The stream of ``seed`` as it is after ``consumed`` uniforms, in O(1).

        Blocks always hold :data:`_BLOCK` uniforms and each costs the generator exactly one
        64-bit step, so the block holding position ``consumed`` starts after
        ``_BLOCK * (consumed // _BLOCK)`` steps: PCG64 jumps there with ``advance``. This is
        how a restarted user resumes mid-run without re-planning every op it already ran.
        """
        draws = cls(seed)
        if consumed == 0:
            return draws
        bits = np.random.PCG64(seed)
        bits.advance(_BLOCK * (consumed // _BLOCK))
        draws._generator = np.random.Generator(bits)
        draws._array = draws._generator.random(_BLOCK)
        draws._buffer = draws._array.tolist()
        draws._next = consumed % _BLOCK
        draws.consumed = consumed
        return draws

    def uniform(self) -> float:
        """One value in [0, 1)."""
        if self._next == len(self._buffer):
            self._array = self._generator.random(_BLOCK)
            self._buffer = self._array.tolist()
            self._next = 0
        value = self._buffer[self._next]
        self._next += 1
        self.consumed += 1
        return value

    def upcoming(self, count: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The next ``count`` uniforms, without consuming them.

        The values :meth:`uniform` would return next, in order: the stream is read in whole
        blocks as ever (so :meth:`resumed` still finds every position), only more of them are
        held at once. A bulk draw reads what it needs here, then :meth:`skip` s that many.
        """
        held = len(self._buffer) - self._next
        if held < count:
            blocks = -(-(count - held) // _BLOCK)
            fresh = self._generator.random(blocks * _BLOCK)
            self._array = np.concatenate((self._array[self._next :], fresh))
            self._buffer = self._buffer[self._next :] + fresh.tolist()
            self._next = 0
        return self._array[self._next : self._next + count]

    def upcoming_listed(
        self, count: int
    ) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[float], int]:
        """:meth:`upcoming`, plus the same values in a list and where they begin in it.

        A walk that reads value by value indexes the list (a list index is several times
        cheaper than an array's); the list must not be changed.
        """
        window = self.upcoming(count)
        return window, self._buffer, self._next

    def skip(self, count: int) -> None:
        """Consume ``count`` uniforms already seen through :meth:`upcoming`."""
        if self._next + count > len(self._buffer):
            raise ValueError(f"skip({count}) past the {len(self._buffer) - self._next} held")
        self._next += count
        self.consumed += count

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high] (both ends included); one uniform."""
        return low + min(int(self.uniform() * (high - low + 1)), high - low)

    def between(self, low: float, high: float) -> float:
        """A float in [low, high) (``low`` when the two are equal); one uniform."""
        return between(self.uniform(), low, high)

    def chance(self, probability: float) -> bool:
        """True with ``probability``; one uniform."""
        return self.uniform() < probability

    def pick(self, cumulative: Sequence[float]) -> int:
        """Index into a cumulative weight table ending at 1.0; one uniform."""
        return min(bisect_right(cumulative, self.uniform()), len(cumulative) - 1)

    def skewed(self, count: int, power: float = 2.5) -> int:
        """An index in [0, count) with low indexes far more likely (hot agents, hot keys)."""
        return min(int(count * self.uniform() ** power), count - 1)

    def lognormal(self, median: float, sigma: float) -> float:
        """A log-normal value with the given median; two uniforms (Box-Muller)."""
        u1, u2 = self.uniform(), self.uniform()
        normal = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        return median * math.exp(sigma * normal)

    def exponential(self, mean: float) -> float:
        """An exponential value with the given mean (Poisson gaps); one uniform."""
        return -mean * math.log(1.0 - self.uniform())

    def hex_digits(self, count: int) -> str:
        """``count`` hex digits; one uniform per 8 digits."""
        digits = []
        for _ in range((count + 7) // 8):
            digits.append(f"{int(self.uniform() * 2**32):08x}")
        return "".join(digits)[:count]

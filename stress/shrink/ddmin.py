"""Zeller's delta debugging (ddmin): the smallest failing subset of a failing list.

Generic over the items and the test: ``fails(candidate)`` says whether a candidate (a
sub-list, in the original order) still fails. The result is 1-minimal with respect to
``fails``: removing any single item of it makes the test pass (unless the search was stopped
early, when it is the smallest failing list found so far). After Zeller and Hildebrandt,
"Simplifying and Isolating Failure-Inducing Input" (2002): split into ``n`` chunks, try each
chunk, then each complement, and split finer when neither fails.

A real run's failure is not a pure function of its input: threads and processes interleave
differently each time. :class:`FlakyTest` therefore counts a candidate as failing when one of
``tries`` runs fails in the same way (the same signature), and stops at the first that does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["FlakyTest", "ddmin"]

T = TypeVar("T")
#: A candidate (ddmin's: a list of items; the shrink's: a replay file) and a signature.
C = TypeVar("C")
S = TypeVar("S", bound=Hashable)


def _chunks(items: Sequence[T], n: int) -> list[list[T]]:
    """``items`` in ``n`` contiguous chunks whose sizes differ by at most one."""
    size, extra = divmod(len(items), n)
    chunks, start = [], 0
    for index in range(n):
        end = start + size + (1 if index < extra else 0)
        chunks.append(list(items[start:end]))
        start = end
    return chunks


def ddmin(
    items: Sequence[T],
    fails: Callable[[list[T]], bool],
    *,
    stop: Callable[[], bool] = lambda: False,
) -> list[T]:
    """The 1-minimal failing sub-list of ``items``, which must itself fail.

    ``stop`` is asked before every test; once it says yes, the smallest failing list so far
    is returned (a budget, or an interrupt). Each distinct candidate is tested at most once.
    """
    # Indexes stand for the items, so equal items stay distinct and candidates are hashable.
    every = list(items)
    seen: dict[tuple[int, ...], bool] = {}

    def test(candidate: list[int]) -> bool:
        key = tuple(candidate)
        if key not in seen:
            seen[key] = fails([every[index] for index in candidate])
        return seen[key]

    current, n = list(range(len(every))), 2
    while len(current) >= 2 and not stop():
        reduced = _reduce_once(current, n, test, stop)
        if reduced is not None:
            current, n = reduced
        elif n < len(current):
            n = min(2 * n, len(current))
        else:
            break
    return [every[index] for index in current]


def _reduce_once(
    current: list[int],
    n: int,
    test: Callable[[list[int]], bool],
    stop: Callable[[], bool],
) -> tuple[list[int], int] | None:
    """One round at granularity ``n``: a failing chunk, else a failing complement, else None."""
    chunks = _chunks(current, n)
    for chunk in chunks:
        if stop():
            return None
        if test(chunk):
            return chunk, 2
    if n == 2:
        return None  # with two chunks, the complements are the chunks just tested
    for index in range(len(chunks)):
        if stop():
            return None
        complement = [item for other, c in enumerate(chunks) if other != index for item in c]
        if test(complement):
            return complement, max(n - 1, 2)
    return None


@dataclass
class FlakyTest(Generic[C, S]):
    """A test that fails when one of ``tries`` runs ends with the ``target`` signature.

    ``run`` runs a candidate once and returns its failure signature (None: it passed).
    Another signature is another bug, so it does not count: ``same(found, target)`` says
    which are the target's (equality, unless told otherwise). ``runs`` counts every run made.
    """

    run: Callable[[C], S | None]
    target: S
    tries: int = 3
    same: Callable[[S, S], bool] = operator.eq
    runs: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError(f"tries={self.tries}: a candidate needs at least one run")

    def __call__(self, candidate: C) -> bool:
        for _ in range(self.tries):
            self.runs += 1
            found = self.run(candidate)
            if found is not None and self.same(found, self.target):
                return True
        return False

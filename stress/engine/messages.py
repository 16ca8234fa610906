"""What a worker tells the coordinator: one frozen dataclass per kind of message.

A worker in a process sends these through its pipe (pickled, so every field is plain data);
a worker in a thread puts them on a queue. The coordinator matches on the type, and
:data:`WorkerMessage` being a closed union lets ``mypy --strict`` check that every kind is
handled (``typing.assert_never`` in :func:`stress.engine.coordinator._handle`).

The order a worker sends them in: :class:`Ready` once (processes only, before its users
start), :class:`Stats` every report interval, then :class:`Done` at the end or
:class:`Crashed` when the worker itself failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from stress.engine.users import UserProgress, UserResult
from stress.observe.stats import StatsReport

__all__ = ["Crashed", "Done", "Ready", "Stats", "WorkerMessage"]


@dataclass(frozen=True, slots=True)
class Ready:
    """The worker process opened its stores and waits for the go flag."""

    worker_idx: int


@dataclass(frozen=True, slots=True)
class Stats:
    """One report interval of a worker that goes on."""

    worker_idx: int
    #: What the worker's users recorded since its previous report.
    report: StatsReport
    #: Each user's op count and last ops, so a worker killed later can still be described.
    progress: tuple[UserProgress, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """The worker's last report: every user of it ended."""

    worker_idx: int
    #: What the users recorded since the last :class:`Stats`.
    report: StatsReport
    results: tuple[UserResult, ...]


@dataclass(frozen=True, slots=True)
class Crashed:
    """The worker itself raised (a harness error, not a store failure)."""

    worker_idx: int
    #: The formatted traceback of the exception.
    traceback: str


WorkerMessage: TypeAlias = Ready | Stats | Done | Crashed

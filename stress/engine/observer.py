"""A watcher of a run while it goes on: what ``stress soak`` hangs its epochs on.

The runner hands an observer a :class:`RunView` once the workers, the fault injector and
the statistics exist, asks it every coordinator turn whether the run must stop (as it asks
the monitor), and tells it when the users have stopped, before the oracle runs. The observer
gives the run its statistics aggregator, so it can keep figures of its own (per epoch) from
the same worker reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stress.artifacts import DatabasePlace
from stress.config import Settings
from stress.engine.injector import FaultInjector
from stress.engine.pool import WorkerPool
from stress.engine.userspec import UserSpec
from stress.observe.stats import IntervalSink, StatsAggregator
from stress.outcomes import StopReason

__all__ = ["RunObserver", "RunView"]


@dataclass(frozen=True)
class RunView:
    """What an observer may look at while the run goes on (it must not change any of it)."""

    settings: Settings
    run_dir: Path
    places: tuple[DatabasePlace, ...]
    users: tuple[UserSpec, ...]
    pool: WorkerPool
    faults: FaultInjector

    def pids(self) -> dict[int, int]:
        """worker index -> pid of the worker processes alive now."""
        return self.pool.pids()


class RunObserver(Protocol):
    def aggregator(self, interval_sink: IntervalSink) -> StatsAggregator:
        """The run's statistics aggregator (the observer's own kind, to see every report),
        handing every interval to ``interval_sink`` (the run's HDR logs) as the default does."""
        ...

    def attach(self, view: RunView) -> None:
        """The run is about to start its users."""
        ...

    def check(self, elapsed_s: float) -> StopReason | None:
        """Every coordinator turn: a stop reason ends the run with it; quick, never blocks."""
        ...

    def detach(self) -> None:
        """The users have stopped; the oracle has not run yet."""
        ...

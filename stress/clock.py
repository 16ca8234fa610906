"""The time source of users and of the monitor, injectable so tests never wait for real time.

Everything that schedules or measures goes through a :class:`Clock`: the open-loop schedule,
op timing, think times and backpressure waits in :mod:`stress.engine.users`, and the sample times of
:mod:`stress.observe.monitor`. :class:`SystemClock` is the real one; a test passes a fake whose
``wait`` advances its own time instantly, so a queueing test of minutes runs in milliseconds.
"""

from __future__ import annotations

import time
from typing import Protocol

from stress.controls import Flag

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Monotonic time in seconds, and an interruptible wait."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    def wait(self, flag: Flag, seconds: float) -> bool:
        """Wait up to ``seconds`` or until ``flag`` is set; returns whether it is set."""
        ...


class SystemClock:
    """``time.perf_counter`` (sub-microsecond, monotonic) and the flag's own wait."""

    #: The builtin itself, not a method calling it: users read the clock twice per op.
    now = staticmethod(time.perf_counter)

    def wait(self, flag: Flag, seconds: float) -> bool:
        if seconds <= 0:
            return flag.is_set()
        return flag.wait(seconds)

"""The sweep's live progress line: runs done, failing, runs per minute and time left.

``sweep  37/100 done  2 failing  14.2 runs/min  ETA 4m26s``: printed at most every
``interval_s`` seconds and at each new failure, from an injected clock, so a test drives it
without waiting. The rate counts this session's runs only (a resumed sweep's earlier ones
took no time here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Progress", "format_eta"]


def format_eta(seconds: float) -> str:
    """``45s``, ``4m26s``, ``2h05m``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@dataclass
class Progress:
    """Counts of the sweep so far; :meth:`line` formats them, :meth:`tick` prints when due."""

    total: int
    now: Callable[[], float]
    out: TextIO
    interval_s: float = 5.0
    #: Runs finished before this session (a resumed sweep's).
    earlier: int = 0
    failing: int = 0
    done: int = 0
    _started: float = field(init=False)
    _printed: float = field(init=False)
    _last: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._started = self.now()
        self._printed = self._started

    def runs_per_min(self) -> float:
        elapsed = self.now() - self._started
        return 60.0 * self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        finished = self.earlier + self.done
        rate = self.runs_per_min()
        left = self.total - finished
        eta = format_eta(60.0 * left / rate) if rate > 0 else "-"
        return (
            f"sweep  {finished}/{self.total} done  {self.failing} failing  "
            f"{rate:.1f} runs/min  ETA {eta}"
        )

    def record(self, failed: bool) -> None:
        """One run finished; prints the line at once if it failed."""
        self.done += 1
        if failed:
            self.failing += 1
            self.print()
        else:
            self.tick()

    def tick(self) -> None:
        """Print the line if ``interval_s`` has passed since the last one."""
        if self.now() - self._printed >= self.interval_s:
            self.print()

    def print(self) -> None:
        self._printed = self.now()
        self._last = self.line()
        print(self._last, file=self.out, flush=True)

    def final(self) -> None:
        """The closing line, unless the last one printed already says the same."""
        if self.line() != self._last:
            self.print()

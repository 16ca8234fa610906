"""Backpressure: the limits, the hysteresis that keeps it from flapping, and its event log.

Each sample of the monitor gives one value per cause: ``memory`` (MB of resident memory over
the process tree), ``cpu`` (percent of one core over the tree), ``wal`` (MB of the largest
``-wal`` file) and ``disk`` (MB of every database file and spool file). A cause turns *on*
when its value goes above its limit and *off* only when it falls below :data:`LIFT_RATIO` of
it, so a value hovering at the limit does not toggle every sample.

While memory, CPU or WAL is on, the shared ``pause`` flag is set and users wait before their
next op. While disk is on, the ``disk_over`` flag turns writes into simple selects (each one
recorded for replay); it is not a pause. A pause held longer than ``max_stall_s`` is a stall:
the monitor asks the coordinator to stop the run with ``ResourceLimit``.

The disk budget is a soft limit; the file system's size is the hard one. A user that meets a
real full disk (the store, its ledger or the spool had no room) sets the ``disk_full`` flag,
and the run stops with ``ResourceLimit`` too. The report's ``stop_cause`` names what stopped
the run: ``disk`` for a full disk, else the pause causes on when the stall began.

Every transition is an event (time, cause, value, limit, seconds held); the log keeps the
first :data:`MAX_EVENTS`, while the seconds per cause are always exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from stress.controls import Flag
from stress.summary import BackpressureCause, BackpressureEvent, BackpressureSection

__all__ = [
    "CAUSES",
    "DISK",
    "LIFT_RATIO",
    "MAX_EVENTS",
    "PAUSE_CAUSES",
    "Backpressure",
    "Limits",
]

PAUSE_CAUSES: tuple[BackpressureCause, ...] = ("memory", "cpu", "wal")
DISK: Final = "disk"
CAUSES: tuple[BackpressureCause, ...] = (*PAUSE_CAUSES, DISK)
#: A cause lifts when its value falls below this share of its limit.
LIFT_RATIO = 0.9
#: Events kept in the summary; later ones are only counted (``events_dropped``).
MAX_EVENTS = 1000


@dataclass(frozen=True)
class Limits:
    """Every resource limit of a run, in the units of the sampled values."""

    memory_mb: float
    cpu_percent: float
    wal_mb: float
    disk_mb: float
    #: Longest a pause may last, in seconds, before the run stops with ``ResourceLimit``.
    max_stall_s: float

    def of(self, cause: str) -> float:
        return {
            "memory": self.memory_mb,
            "cpu": self.cpu_percent,
            "wal": self.wal_mb,
            DISK: self.disk_mb,
        }[cause]


class Backpressure:
    """Turns per-cause values into the two flags, and logs every transition.

    Not thread-safe: one monitor thread calls :meth:`observe`; the coordinator only reads
    :attr:`stalled` (one attribute, assigned whole).
    """

    def __init__(
        self, limits: Limits, pause: Flag, disk_over: Flag, disk_full: Flag | None = None
    ) -> None:
        self.limits = limits
        self._pause = pause
        self._disk_over = disk_over
        self._disk_full = disk_full
        #: Seconds into the run when a user first reported a full disk.
        self.disk_full_at: float | None = None
        #: The pause causes on when the stall began.
        #: cause -> time (s) it turned on, for causes on now.
        self._on_since: dict[BackpressureCause, float] = {}
        self._held_s = dict.fromkeys(CAUSES, 0.0)
        self._paused_since: float | None = None
        self._paused_s = 0.0
        self.events: list[BackpressureEvent] = []
        self.events_dropped = 0
        #: Set once a pause outlasted ``max_stall_s``.
        self.stalled = False
        #: The causes holding the pause when it outlasted ``max_stall_s``.
        self.stalled_by: list[str] = []

    def observe(self, t_s: float, values: dict[str, float | None]) -> None:
        """Apply one sample taken ``t_s`` seconds into the run (None: cause not measured)."""
        for cause in CAUSES:
            value = values.get(cause)
            if value is not None:
                self._apply(cause, t_s, value)
        self._set_flags(t_s)

    def _apply(self, cause: BackpressureCause, t_s: float, value: float) -> None:
        limit = self.limits.of(cause)
        since = self._on_since.get(cause)
        if since is None and value > limit:
            self._on_since[cause] = t_s
            self._log(t_s, cause, "on", value, None)
        elif since is not None and value < LIFT_RATIO * limit:
            del self._on_since[cause]
            self._held_s[cause] += t_s - since
            self._log(t_s, cause, "off", value, t_s - since)

    def _set_flags(self, t_s: float) -> None:
        paused = any(cause in self._on_since for cause in PAUSE_CAUSES)
        if paused and self._paused_since is None:
            self._paused_since = t_s
            self._pause.set()
        elif not paused and self._paused_since is not None:
            self._paused_s += t_s - self._paused_since
            self._paused_since = None
            self._pause.clear()
        since = self._paused_since
        if since is not None and t_s - since > self.limits.max_stall_s and not self.stalled:
            self.stalled_by = [cause for cause in PAUSE_CAUSES if cause in self._on_since]
            self.stalled = True
        if DISK in self._on_since:
            self._disk_over.set()
        else:
            self._disk_over.clear()

    def _log(
        self,
        t_s: float,
        cause: BackpressureCause,
        transition: Literal["on", "off"],
        value: float,
        held: float | None,
    ) -> None:
        if len(self.events) >= MAX_EVENTS:
            self.events_dropped += 1
            return
        self.events.append(
            {
                "t_s": round(t_s, 3),
                "cause": cause,
                "transition": transition,
                "value": round(value, 3),
                "limit": self.limits.of(cause),
                "held_s": None if held is None else round(held, 3),
            }
        )

    def disk_is_full(self, t_s: float) -> bool:
        """Whether a user has met a full disk (noting when it was first seen, at ``t_s``)."""
        if self.disk_full_at is None and self._disk_full is not None and self._disk_full.is_set():
            self.disk_full_at = t_s
        return self.disk_full_at is not None

    def stop_cause(self) -> str | None:
        """What makes the run stop with ``ResourceLimit`` (None: nothing)."""
        if self.disk_full_at is not None:
            return DISK
        if self.stalled:
            return "+".join(self.stalled_by)
        return None

    def active(self) -> list[BackpressureCause]:
        """Causes on now."""
        return [cause for cause in CAUSES if cause in self._on_since]

    def report(self, end_s: float) -> BackpressureSection:
        """The summary's ``backpressure`` section; causes still on are counted up to ``end_s``."""
        held = dict(self._held_s)
        for cause, since in self._on_since.items():
            held[cause] += end_s - since
        paused = self._paused_s
        if self._paused_since is not None:
            paused += end_s - self._paused_since
        return {
            "lift_ratio": LIFT_RATIO,
            "limits": {cause: self.limits.of(cause) for cause in CAUSES},
            "max_stall_s": self.limits.max_stall_s,
            "paused_s": round(paused, 3),
            "paused_s_by_cause": {cause: round(held[cause], 3) for cause in PAUSE_CAUSES},
            "disk_over_s": round(held[DISK], 3),
            "active_at_end": self.active(),
            "stalled": self.stalled,
            "stalled_by": self.stalled_by,
            "disk_full_at_s": None if self.disk_full_at is None else round(self.disk_full_at, 3),
            "stop_cause": self.stop_cause(),
            "events": self.events,
            "events_dropped": self.events_dropped,
        }

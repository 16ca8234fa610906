"""Fault injection during a run: when each fault strikes, on what, and what it did.

The coordinator calls :meth:`FaultInjector.tick` every loop turn with the run's elapsed time
and a :class:`FaultTargets` (each user's position, a way to kill a worker). Time comes only
through that argument, so a test drives the injector with made-up times and fake targets,
and never sleeps.

When a fault strikes:

- *scheduled* (a new run): each fault of the spec strikes every ``every_s`` seconds, its
  target drawn from its own stream (:func:`stress.plan.draws.fault_seed_sequence`, one per fault
  of each kind), never a user's, so a seed picks the same targets in the same order whatever
  the timing, and adding a fault of one kind never moves the targets of the other;
- *replayed* (``stress replay``): each recorded fault strikes once every user of its target
  has reached the op it had reached when the fault struck in the recorded run. Progress is
  checked every turn, so this is best effort: a few ops late at most. Plan digests never
  depend on faults, so the replay verifies either way.

A kill whose worker is not running (still restarting after the previous kill) waits for it
until the fault's next strike is due, and is then given up (counted in ``not_injected``).
The death is the coordinator's to handle: it asks :meth:`FaultInjector.was_injected`,
restarts the worker whatever ``STRESS_ON_CRASH`` says and does not count it as a crash.
A lock is a process of its own (:mod:`stress.engine.lockholder`); its event gets how long the lock
was held once that process exits.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stress.artifacts import ReplayFault
from stress.engine.worker import WorkerSpec
from stress.faults import KILL, LOCK, FaultKind, Faults, FaultSpec, KillFault
from stress.plan.draws import fault_seed_sequence
from stress.summary import FaultEventEntry, FaultsSection

__all__ = [
    "FaultEvent",
    "FaultInjector",
    "FaultLayout",
    "FaultTargets",
    "Injection",
    "LockHandle",
    "LockHolder",
    "injector_for_run",
]

_HOLDER_SCRIPT = Path(__file__).resolve().with_name("lockholder.py")

Positions = Callable[[], Mapping[int, int]]

_SENT = "SIGKILL sent to pid {pid}"


class FaultTargets(Protocol):
    """What the injector may look at and do, supplied by the coordinator."""

    def positions(self) -> Mapping[int, int]:
        """Each user's ops_executed (ops taken from its plan), by user id."""
        ...

    def kill(self, worker_idx: int) -> int | None:
        """SIGKILL worker ``worker_idx``: its pid, or None when it is not running now."""
        ...


class LockHandle(Protocol):
    """A running lock holder."""

    pid: int

    def poll(self) -> str | None:
        """Its effect once it has exited; None while it still runs."""
        ...

    def stop(self) -> str:
        """End it now (the run is over) and return its effect."""
        ...


StartLock = Callable[[Path, float], LockHandle]


@dataclass(frozen=True)
class FaultLayout:
    """Who is where: each worker's users, each database's users and its file."""

    worker_users: Mapping[int, tuple[int, ...]]
    database_users: Mapping[int, tuple[int, ...]]
    database_paths: tuple[Path, ...]

    @classmethod
    def of(cls, specs: Sequence[WorkerSpec]) -> FaultLayout:
        by_database: dict[int, list[int]] = defaultdict(list)
        for spec in specs:
            for user in spec.users:
                by_database[user.database_idx].append(user.user_id)
        places = sorted(specs[0].databases, key=lambda p: p.index) if specs else []
        return cls(
            {spec.worker_idx: tuple(u.user_id for u in spec.users) for spec in specs},
            {index: tuple(users) for index, users in by_database.items()},
            tuple(place.path for place in places),
        )

    def users_of(self, injection: Injection) -> tuple[int, ...]:
        """The users a fault strikes: the killed worker's or the locked database's."""
        table = self.worker_users if injection.kind == KILL else self.database_users
        return table.get(injection.target, ())


@dataclass(frozen=True)
class Injection:
    """One strike: a kill of worker ``target`` or a lock of database ``target``."""

    kind: FaultKind
    target: int
    hold_s: float | None = None


@dataclass
class FaultEvent:
    """One fault that was injected."""

    #: Seconds into the run.
    t_s: float
    injection: Injection
    #: Every user's ops_executed when it struck, by user id.
    points: dict[int, int]
    #: The killed worker's or the lock holder's pid.
    pid: int
    effect: str

    def summary_entry(self) -> FaultEventEntry:
        target = self.injection.target
        kind: FaultKind = KILL if self.injection.kind == KILL else LOCK
        return {
            "t_s": round(self.t_s, 3),
            "kind": kind,
            "target": f"worker {target}" if kind == KILL else f"database {target}",
            "worker_idx": target if kind == KILL else None,
            "database_idx": target if kind == LOCK else None,
            "pid": self.pid,
            "hold_s": self.injection.hold_s,
            "effect": self.effect,
        }

    def replay_entry(self) -> dict[str, Any]:
        kind, target = self.injection.kind, self.injection.target
        return {
            "kind": kind,
            "t_s": round(self.t_s, 3),
            "worker_idx": target if kind == KILL else None,
            "database_idx": target if kind == LOCK else None,
            "hold_s": self.injection.hold_s,
            "points": {str(user): ops for user, ops in sorted(self.points.items())},
        }


class _Scheduled:
    """One fault of the spec: strikes every ``every_s`` seconds, targets from its stream."""

    def __init__(self, spec: FaultSpec, generator: np.random.Generator, choices: Sequence[int]):
        self._spec = spec
        self._rng = generator
        self._choices = tuple(choices)
        self._due = spec.every_s
        #: The strike that came due, drawn once, while it waits for its target.
        self._waiting: Injection | None = None

    def ready(self, elapsed: float, positions: Positions) -> Injection | None:
        if elapsed < self._due:
            return None
        if self._waiting is None:
            self._waiting = self._draw()
        return self._waiting

    def done(self) -> None:
        self._waiting = None
        self._due += self._spec.every_s

    def expired(self, elapsed: float) -> bool:
        """The next strike is due: the one still waiting for its target gives way."""
        return elapsed >= self._due + self._spec.every_s

    def pending(self) -> bool:
        return self._waiting is not None

    def _draw(self) -> Injection:
        spec = self._spec
        if isinstance(spec, KillFault):
            return Injection(KILL, self._pick())
        # A pinned lock draws nothing: its stream is only for choosing.
        target = spec.database if spec.database is not None else self._pick()
        return Injection(LOCK, target, spec.hold_s)

    def _pick(self) -> int:
        return self._choices[int(self._rng.integers(len(self._choices)))]


class _Replayed:
    """One recorded fault: strikes once its target's users are back at their points.

    Faults on one target strike in their recorded order (``after`` is the one before it):
    two kills of a worker that made no progress in between have the same points, and must
    still be two kills, of two lives of that worker.
    """

    def __init__(
        self, fault: ReplayFault, layout: FaultLayout, after: _Replayed | None = None
    ) -> None:
        self._injection = _recorded_injection(fault)
        users = layout.users_of(self._injection)
        self._watch = {user: fault.points[user] for user in users if user in fault.points}
        self._after = after
        self._finished = False

    def ready(self, elapsed: float, positions: Positions) -> Injection | None:
        if self._finished or (self._after is not None and not self._after._finished):
            return None
        reached = positions()
        if all(reached.get(user, 0) >= point for user, point in self._watch.items()):
            return self._injection
        return None

    def done(self) -> None:
        self._finished = True

    def expired(self, elapsed: float) -> bool:
        return False

    def pending(self) -> bool:
        return not self._finished


def _recorded_injection(fault: ReplayFault) -> Injection:
    target = fault.worker_idx if fault.kind == KILL else fault.database_idx
    assert target is not None  # ReplayFault checks every fault names its target
    return Injection(fault.kind, target, fault.hold_s)


_Trigger = _Scheduled | _Replayed


class FaultInjector:
    """Strikes the run's faults and records each one; see the module doc."""

    def __init__(
        self,
        layout: FaultLayout,
        triggers: Sequence[_Trigger],
        *,
        spec: str | None = None,
        replayed: bool = False,
        start_lock: StartLock | None = None,
    ) -> None:
        self.layout = layout
        self.events: list[FaultEvent] = []
        self._triggers = list(triggers)
        self._spec = spec
        self._replayed = replayed
        self._start_lock: StartLock = start_lock if start_lock is not None else LockHolder
        self._killed: dict[int, FaultEvent] = {}
        self._holders: list[tuple[LockHandle, FaultEvent]] = []
        self._given_up = 0

    @classmethod
    def scheduled(
        cls,
        specs: Sequence[FaultSpec],
        global_seed: int,
        layout: FaultLayout,
        *,
        spec: str | None = None,
        start_lock: StartLock | None = None,
    ) -> FaultInjector:
        """A new run's injector: each fault of ``specs`` on its own seeded stream."""
        triggers = []
        for position, fault in enumerate(specs):
            # Numbered within its kind: adding a lock anywhere never moves a kill's targets.
            index = sum(1 for earlier in specs[:position] if earlier.kind == fault.kind)
            seed = fault_seed_sequence(global_seed, fault.kind, index)
            generator = np.random.Generator(np.random.PCG64(seed))
            choices = (
                sorted(layout.worker_users)
                if isinstance(fault, KillFault)
                else range(len(layout.database_paths))
            )
            triggers.append(_Scheduled(fault, generator, choices))
        return cls(layout, triggers, spec=spec, start_lock=start_lock)

    @classmethod
    def replaying(
        cls,
        recorded: Sequence[ReplayFault],
        layout: FaultLayout,
        *,
        spec: str | None = None,
        start_lock: StartLock | None = None,
    ) -> FaultInjector:
        """A replay's injector: the recorded faults at the recorded points."""
        last: dict[tuple[str, int], _Replayed] = {}
        triggers = []
        for fault in recorded:
            injection = _recorded_injection(fault)
            key = (injection.kind, injection.target)
            last[key] = _Replayed(fault, layout, last.get(key))
            triggers.append(last[key])
        return cls(layout, triggers, spec=spec, replayed=True, start_lock=start_lock)

    def tick(self, elapsed: float, targets: FaultTargets) -> None:
        """Strike every fault that is due at ``elapsed`` seconds into the run."""
        self._poll_holders()
        positions = _once(targets.positions)
        for trigger in self._triggers:
            # At most one strike per fault and turn; a strike given up makes way for the next.
            while (injection := trigger.ready(elapsed, positions)) is not None:
                if self._inject(elapsed, injection, targets, positions):
                    trigger.done()
                    break
                if not trigger.expired(elapsed):
                    break
                self._given_up += 1
                trigger.done()

    def _inject(
        self, elapsed: float, injection: Injection, targets: FaultTargets, positions: Positions
    ) -> bool:
        # The points are read before the strike: the op in flight is the one after them.
        points = dict(positions())
        if injection.kind == KILL:
            pid = targets.kill(injection.target)
            if pid is None:
                return False
            event = FaultEvent(elapsed, injection, points, pid, _SENT.format(pid=pid))
            self._killed[pid] = event
        else:
            assert injection.hold_s is not None  # every lock has its hold time
            path = self.layout.database_paths[injection.target]
            holder = self._start_lock(path, injection.hold_s)
            event = FaultEvent(
                elapsed, injection, points, holder.pid, f"lock holder pid {holder.pid} started"
            )
            self._holders.append((holder, event))
        self.events.append(event)
        return True

    def was_injected(self, pid: int | None) -> bool:
        """Whether the process ``pid`` died of a kill this injector sent."""
        return pid is not None and pid in self._killed

    def kill_settled(self, pid: int, restarted: bool) -> None:
        """What became of an injected kill's worker (the coordinator decides)."""
        event = self._killed[pid]
        if restarted:
            event.effect = f"pid {pid} killed (SIGKILL); worker restarted, its users resumed"
        else:
            event.effect = (
                f"pid {pid} killed (SIGKILL) as the run stopped; its users closed at their "
                "last committed op"
            )

    def _poll_holders(self) -> None:
        running = []
        for holder, event in self._holders:
            effect = holder.poll()
            if effect is None:
                running.append((holder, event))
            else:
                event.effect = effect
        self._holders = running

    def end_locks(self) -> None:
        """End every lock holder still running: the run is stopping, and users waiting out
        the busy timeout for its lock must not keep it from stopping on time."""
        for holder, event in self._holders:
            event.effect = holder.stop()
        self._holders = []

    def close(self) -> None:
        """End every lock holder still running (the run is over)."""
        self.end_locks()
        for pid, event in self._killed.items():
            if event.effect == _SENT.format(pid=pid):
                # Never seen as a death: its final report had come in (users done, or the
                # run stopping), so there was nothing to restart.
                event.effect += "; the worker had already reported its users done"

    def not_injected(self) -> int:
        """Strikes that came due (or were recorded) but never happened."""
        return self._given_up + sum(trigger.pending() for trigger in self._triggers)

    def section(self) -> FaultsSection:
        """The summary's ``faults`` section."""
        counts: dict[str, int] = {KILL: 0, LOCK: 0}
        for event in self.events:
            counts[event.injection.kind] += 1
        return {
            "spec": self._spec,
            "replayed": self._replayed,
            "injected": counts,
            "not_injected": self.not_injected(),
            "events": [event.summary_entry() for event in self.events],
        }

    def replay_entries(self) -> list[dict[str, Any]]:
        """The ``faults`` of replay.json: every injection with its users' points."""
        return [event.replay_entry() for event in self.events]


def _once(source: Callable[[], Mapping[int, int]]) -> Positions:
    """``source`` called at most once per tick: positions cost a look at every user."""
    cache: list[Mapping[int, int]] = []

    def positions() -> Mapping[int, int]:
        if not cache:
            cache.append(source())
        return cache[0]

    return positions


class LockHolder:
    """A :mod:`stress.engine.lockholder` process holding ``BEGIN IMMEDIATE`` on one database."""

    def __init__(self, path: Path, hold_s: float, engine: str = "sqlite") -> None:
        # By path, not -m: the script must not pay for importing the stress package.
        self._process = subprocess.Popen(
            [sys.executable, str(_HOLDER_SCRIPT), str(path), repr(hold_s), engine],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self._process.pid

    def poll(self) -> str | None:
        if self._process.poll() is None:
            return None
        return self._effect(ended_early=False)

    def stop(self) -> str:
        running = self._process.poll() is None
        if running:
            # The lock goes with the process; the transaction wrote nothing to roll back.
            self._process.kill()
        return self._effect(ended_early=running)

    def _effect(self, ended_early: bool) -> str:
        out, err = self._process.communicate()
        lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        if "locked" not in lines:
            last = (err.strip().splitlines() or ["the run ended first"])[-1]
            return f"lock not taken by pid {self.pid}: {last}"
        waited_ms = float(lines["locked"]) * 1000
        if ended_early or "released" not in lines:
            return f"write-locked by pid {self.pid} until the run ended"
        return (
            f"write-locked (BEGIN IMMEDIATE) for {float(lines['released']):.2f} s by pid "
            f"{self.pid}, after {waited_ms:.1f} ms waiting for the lock"
        )


def injector_for_run(
    faults: Faults | None,
    global_seed: int,
    workers: Sequence[WorkerSpec],
    recorded: Sequence[ReplayFault] | None,
    lock_engine: str = "sqlite",
) -> FaultInjector:
    """The run's injector: a replay's ``recorded`` faults, or else the schedule of ``faults``
    (the run's parsed STRESS_FAULTS, checked by :func:`stress.engine.faultplan.fault_plan`)."""
    layout = FaultLayout.of(workers)
    spec = faults.text if faults is not None else None
    # The holder opens the file as the run's own connections do (see lockholder.ENGINES).
    start_lock = functools.partial(LockHolder, engine=lock_engine)
    if recorded is not None:
        return FaultInjector.replaying(recorded, layout, spec=spec, start_lock=start_lock)
    specs = faults.specs if faults is not None else ()
    return FaultInjector.scheduled(specs, global_seed, layout, spec=spec, start_lock=start_lock)

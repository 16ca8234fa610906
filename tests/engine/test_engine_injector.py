"""The injector on its own: made-up times, fake workers and lock holders, no sleeping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from faults_helpers import FakeLocks, FakeTargets

from stress.artifacts import ReplayFault
from stress.engine.injector import FaultInjector, FaultLayout, LockHolder
from stress.faults import FaultSpec, KillFault, LockFault, parse_faults
from stress.plan.draws import fault_seed_sequence, user_seed_sequence

#: Four workers of two users each; users 0-3 on database 0, 4-7 on database 1.
LAYOUT = FaultLayout(
    {0: (0, 4), 1: (1, 5), 2: (2, 6), 3: (3, 7)},
    {0: (0, 1, 2, 3), 1: (4, 5, 6, 7)},
    (Path("db-0/meta.db"), Path("db-1/meta.db")),
)


def _drive(injector: FaultInjector, targets: FakeTargets, until_s: float) -> None:
    """Tick every 0.1 s, restarting each killed worker on the next tick."""
    for step in range(1, round(until_s * 10) + 1):
        for worker in set(targets.killed) - set(targets.running):
            targets.restart(worker)
        injector.tick(step / 10, targets)


def _kill_targets(seed: int, faults: tuple[FaultSpec, ...], until_s: float = 60.0) -> list[int]:
    injector = FaultInjector.scheduled(faults, seed, LAYOUT, start_lock=FakeLocks().start)
    targets = FakeTargets(4)
    _drive(injector, targets, until_s)
    return targets.killed


def test_targets_are_a_function_of_the_seed() -> None:
    kill = (KillFault(2.0),)
    first = _kill_targets(7, kill)
    assert len(first) == 30
    assert _kill_targets(7, kill) == first
    assert _kill_targets(8, kill) != first
    assert set(first) == {0, 1, 2, 3}


def test_adding_a_lock_never_moves_the_kill_targets() -> None:
    """Each fault has its own stream, as each user has."""
    alone = _kill_targets(7, (KillFault(2.0),))
    assert _kill_targets(7, (LockFault(3.0, 1.0), KillFault(2.0))) == alone


def test_fault_streams_are_never_a_user_stream() -> None:
    faults = [fault_seed_sequence(11, kind, 0).generate_state(4) for kind in ("kill", "lock")]
    for user in range(300):
        state = user_seed_sequence(11, user).generate_state(4)
        assert not any(np.array_equal(state, fault) for fault in faults)


def test_strikes_come_every_period_from_one_period_in() -> None:
    injector = FaultInjector.scheduled(parse_faults("kill=every:2s"), 1, LAYOUT)
    targets = FakeTargets(4)
    _drive(injector, targets, 7.0)
    assert [event.t_s for event in injector.events] == [2.0, 4.0, 6.0]
    assert all(event.effect.startswith("SIGKILL sent to pid") for event in injector.events)


def test_a_kill_waits_for_its_worker_and_gives_up_at_the_next_strike() -> None:
    injector = FaultInjector.scheduled((KillFault(2.0),), 1, LAYOUT)
    targets = FakeTargets(4)
    targets.running.clear()  # every worker is restarting
    injector.tick(2.0, targets)
    injector.tick(3.0, targets)
    assert injector.events == [] and injector.not_injected() == 1
    targets.running = {0: 10, 1: 11, 2: 12, 3: 13}
    injector.tick(3.5, targets)
    assert [event.t_s for event in injector.events] == [3.5]
    targets.running.clear()
    injector.tick(4.0, targets)
    injector.tick(6.0, targets)  # the strike due at 4 s gives way to the one due at 6 s
    assert injector.section()["not_injected"] == 2


def test_events_carry_every_users_point_and_the_kill_is_claimed() -> None:
    injector = FaultInjector.scheduled((KillFault(1.0),), 3, LAYOUT)
    targets = FakeTargets(4)
    targets.users = {user: 10 * user for user in range(8)}
    injector.tick(1.0, targets)
    (event,) = injector.events
    assert event.points == targets.users
    assert injector.was_injected(event.pid) and not injector.was_injected(99)
    injector.kill_settled(event.pid, restarted=True)
    entry = event.summary_entry()
    assert entry["kind"] == "kill" and entry["target"] == f"worker {entry['worker_idx']}"
    assert "worker restarted" in entry["effect"]
    assert event.replay_entry()["points"] == {str(u): 10 * u for u in range(8)}


def test_locks_pick_a_database_unless_pinned_and_record_the_holders_effect() -> None:
    locks = FakeLocks()
    faults = parse_faults("lock=every:1s:hold:2s,lock=every:5s:hold:1s:db:1")
    injector = FaultInjector.scheduled(faults, 5, LAYOUT, start_lock=locks.start)
    targets = FakeTargets(4)
    _drive(injector, targets, 5.0)
    pinned = [event for event in injector.events if event.injection.hold_s == 1.0]
    assert [event.injection.target for event in pinned] == [1]
    assert {holder.path for holder in locks.holders} <= set(LAYOUT.database_paths)
    assert len(locks.holders) == 6
    locks.holders[0].done = True
    injector.tick(5.05, targets)
    assert injector.events[0].effect == "held 2.0 s"
    injector.close()
    assert all(holder.stopped for holder in locks.holders[1:])
    assert injector.section()["injected"] == {"kill": 0, "lock": 6}


def _recorded(kind: str, target: int, points: dict[int, int]) -> ReplayFault:
    if kind == "kill":
        return ReplayFault(kind="kill", t_s=1.0, worker_idx=target, points=points)
    return ReplayFault(kind="lock", t_s=1.0, database_idx=target, hold_s=0.5, points=points)


def test_a_replay_strikes_once_the_targets_users_are_back_at_their_points() -> None:
    recorded = [
        _recorded("kill", 1, {1: 50, 5: 40, 0: 999}),  # user 0 is not worker 1's: ignored
        _recorded("lock", 0, {0: 20, 1: 20, 2: 20, 3: 20}),
    ]
    locks = FakeLocks()
    injector = FaultInjector.replaying(recorded, LAYOUT, start_lock=locks.start)
    targets = FakeTargets(4)
    targets.users = {user: 0 for user in range(8)}
    injector.tick(0.1, targets)
    assert injector.events == []
    targets.users.update({1: 50, 5: 39, 0: 20, 2: 20, 3: 20})
    injector.tick(0.2, targets)
    assert [event.injection.kind for event in injector.events] == ["lock"]
    targets.users[5] = 40
    injector.tick(0.3, targets)
    assert targets.killed == [1]
    assert injector.section()["replayed"] and injector.not_injected() == 0


def test_a_replay_keeps_the_recorded_order_on_one_target() -> None:
    """Two kills of a worker that did nothing in between: two lives, killed one after the other."""
    same = {1: 30, 5: 30}
    recorded = [_recorded("kill", 1, same), _recorded("kill", 1, same)]
    injector = FaultInjector.replaying(recorded, LAYOUT)
    targets = FakeTargets(4)
    targets.users = {1: 30, 5: 30}
    injector.tick(0.1, targets)
    injector.tick(0.2, targets)  # worker 1 is not back yet
    assert targets.killed == [1]
    targets.restart(1)
    injector.tick(0.3, targets)
    assert targets.killed == [1, 1]


def test_the_lock_holder_holds_then_reports(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "meta.db"
    sqlite3.connect(path).close()
    holder = LockHolder(path, 0.05)
    holder._process.wait(30)  # the holder's own exit, not a guess at how long it takes
    effect = holder.poll()
    assert effect is not None and effect.startswith("write-locked (BEGIN IMMEDIATE) for "), effect
    # The holder sleeps 0.05 s; a loaded machine may wake it later, never sooner.
    held_s = float(effect.removeprefix("write-locked (BEGIN IMMEDIATE) for ").split(" s")[0])
    assert held_s >= 0.05, effect

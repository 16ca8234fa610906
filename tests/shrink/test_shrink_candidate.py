"""A shrink's candidates are replay files ``stress replay`` accepts: users keep their ids and
places, op counts cut their pins, config changes move users and drop faults that would not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from stress.artifacts import ReplayFault, ReplayFile, read_replay_file
from stress.config import settings_from_dict
from stress.replay.check import refuse_contradictions
from stress.shrink.candidate import (
    keep_users,
    simplifications,
    total_ops,
    with_ops,
    with_share,
    without_think_time,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "replay" / "processes-4-users" / "replay.json"


def _consistent(replay: ReplayFile) -> None:
    """What stress replay checks first: the file does not contradict itself."""
    config = {**replay.config, "seed": replay.global_seed, "output_dir": None}
    refuse_contradictions(replay, settings_from_dict(config), FIXTURE)


@pytest.fixture
def recorded() -> ReplayFile:
    """The 4-user, 2-process fixture, with a kill of worker 1 and a lock of database 0."""
    base = read_replay_file(FIXTURE)
    points = {user.user_id: user.ops_executed // 2 for user in base.users}
    faults = [
        ReplayFault(kind="kill", t_s=1.0, worker_idx=1, points=points),
        ReplayFault(kind="lock", t_s=2.0, database_idx=0, hold_s=1.5, points=points),
    ]
    config = {**base.config, "faults": "kill=every:1s,lock=every:2s:hold:1500ms"}
    return base.model_copy(update={"faults": faults, "config": config})


def test_keeping_users_keeps_their_ids_places_and_ops(recorded: ReplayFile) -> None:
    kept = keep_users(recorded, [1, 3])
    assert [u.user_id for u in kept.users] == [1, 3]
    before = {u.user_id: u for u in recorded.users}
    for user in kept.users:
        assert user == before[user.user_id]
    _consistent(kept)


def test_faults_follow_the_users_that_are_left(recorded: ReplayFile) -> None:
    # Users 1 and 3 run on worker 1 and database 1: the lock of database 0 has no one left.
    kept = keep_users(recorded, [1, 3])
    assert [f.kind for f in kept.faults] == ["kill"]
    assert set(kept.faults[0].points) == {1, 3}
    # Users 0 and 2 are on worker 0: the kill of worker 1 goes.
    assert [f.kind for f in keep_users(recorded, [0, 2]).faults] == ["lock"]


def test_fewer_ops_is_a_prefix_with_its_pins_cut(recorded: ReplayFile) -> None:
    user = recorded.users[0]
    pinned = user.model_copy(update={"substitutions": [3, 10, 40], "skipped": [5, 50]})
    replay = recorded.model_copy(update={"users": [pinned, *recorded.users[1:]]})
    cut = with_ops(replay, user.user_id, 20)
    first = cut.users[0]
    assert (first.ops_executed, first.substitutions, first.skipped) == (20, [3, 10], [5])
    assert cut.users[1:] == replay.users[1:]
    assert all(f.points[user.user_id] <= 20 for f in cut.faults)
    assert total_ops(cut) == total_ops(replay) - user.ops_executed + 20
    _consistent(cut)


def test_every_simplification_is_a_consistent_file(recorded: ReplayFile) -> None:
    steps = list(simplifications(recorded))
    whats = [step.what for step in steps]
    assert any(w.startswith("drop fault (kill") for w in whats)
    assert any(w.startswith("drop fault (lock") for w in whats)
    # Threads are not offered while a kill is left: a kill needs a worker process.
    assert not any("threads" in w for w in whats)
    assert "databases 2 -> 1" in whats
    assert any(w.startswith("batches") for w in whats)
    for step in steps:
        _consistent(step.replay)


def test_without_kills_processes_become_threads(recorded: ReplayFile) -> None:
    no_kill = next(s.replay for s in simplifications(recorded) if "(kill" in s.what)
    assert no_kill.config["faults"] == "lock=every:2s:hold:1500ms"
    threads = next(s.replay for s in simplifications(no_kill) if "threads" in s.what)
    assert threads.config["processes"] == 0
    assert {u.process_idx for u in threads.users} == {0}
    _consistent(threads)


def test_one_database_moves_every_user_and_drops_locks_beyond_it(recorded: ReplayFile) -> None:
    one = next(s.replay for s in simplifications(recorded) if s.what == "databases 2 -> 1")
    assert {u.database_idx for u in one.users} == {0}
    assert all(f.database_idx in (None, 0) for f in one.faults)
    _consistent(one)


def test_the_last_fault_dropped_clears_the_spec(recorded: ReplayFile) -> None:
    replay = recorded
    while replay.faults:
        replay = next(s.replay for s in simplifications(replay) if s.what.startswith("drop"))
    assert replay.config["faults"] is None
    _consistent(replay)


def test_think_time_goes_to_zero_once(recorded: ReplayFile) -> None:
    slow = recorded.model_copy(
        update={"config": {**recorded.config, "think_min_ms": 10.0, "think_max_ms": 200.0}}
    )
    fast = without_think_time(slow)
    assert fast is not None
    assert (fast.config["think_min_ms"], fast.config["think_max_ms"]) == (0.0, 0.0)
    assert without_think_time(fast) is None
    _consistent(fast)


def test_a_share_cuts_every_user_to_a_prefix_of_at_least_one_op(recorded: ReplayFile) -> None:
    ops = {u.user_id: u.ops_executed for u in recorded.users}
    quarter = with_share(recorded, 0.25)
    assert {u.user_id: u.ops_executed for u in quarter.users} == {
        user: -(-count // 4) for user, count in ops.items()
    }
    assert {u.ops_executed for u in with_share(recorded, 0.0).users} == {1}
    assert with_share(recorded, 1.0).users == recorded.users
    _consistent(quarter)

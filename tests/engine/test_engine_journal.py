"""The restart journal: progress slots, side files cut back, and exact O(1) resumption."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from monitor_helpers import LIMITS, FakeClock, fake_execute, profile, stub_store

from stress.controls import Controls
from stress.engine.journal import (
    DIGEST_BYTES,
    SLOT_PAIR_BYTES,
    ProgressSlots,
    UserJournal,
    digests_path,
    marks_path,
    read_marks,
    resume_point,
)
from stress.engine.users import UserResult, UserRunner, UserSpec
from stress.observe.stats import StatsRecorder
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.pacing import ArrivalSchedule
from stress.plan.workload import UserPlan

SEED = 77


@given(consumed=st.integers(0, 5000))
def test_a_resumed_stream_continues_exactly_where_the_original_is(consumed: int) -> None:
    original = Draws(user_seed_sequence(SEED, 3))
    for _ in range(consumed):
        original.uniform()
    resumed = Draws.resumed(user_seed_sequence(SEED, 3), consumed)
    assert resumed.consumed == consumed
    assert [resumed.uniform() for _ in range(1500)] == [original.uniform() for _ in range(1500)]


def test_a_resumed_plan_draws_the_same_ops_as_one_that_ran_through() -> None:
    through = UserPlan(SEED, 1, profile("mixed"), LIMITS)
    skipped = [through.next_op() for _ in range(57)]
    resumed = UserPlan(SEED, 1, profile("mixed"), LIMITS)
    resumed.resume_at(len(skipped), through.draws.consumed)
    for _ in range(40):
        assert resumed.next_op().canonical() == through.next_op().canonical()


def test_a_resumed_arrival_schedule_continues_its_gaps() -> None:
    through = ArrivalSchedule(SEED, 2, rate_per_s=50.0)
    through.start_at(0.0)
    dues = [through.next_due() for _ in range(30)]
    resumed = ArrivalSchedule(SEED, 2, rate_per_s=50.0, position=20)
    resumed.start_at(dues[19])
    assert [resumed.next_due() for _ in range(10)] == pytest.approx(dues[20:])


def test_slots_keep_the_newest_intact_commit_per_user() -> None:
    slots = ProgressSlots(bytearray(3 * SLOT_PAIR_BYTES), 3)
    assert slots.read(1) is None
    slots.commit(1, 4, 40, b"a" * 16)
    slots.commit(1, 5, 52, b"b" * 16)
    slots.commit(2, 1, 7, b"c" * 16)
    assert slots.read(1) == (5, 52, b"b" * 16)
    assert slots.read(2) == (1, 7, b"c" * 16)
    assert slots.read(0) is None


def test_a_slot_torn_by_a_kill_falls_back_to_the_previous_commit() -> None:
    cells = bytearray(SLOT_PAIR_BYTES)
    slots = ProgressSlots(cells, 1)
    slots.commit(0, 6, 60, b"a" * 16)
    slots.commit(0, 7, 70, b"b" * 16)
    # Op 7's slot is the second half; a kill before its closing ``ops`` leaves the old value.
    half = SLOT_PAIR_BYTES // 2
    cells[2 * half - 8 : 2 * half] = (5).to_bytes(8, "little")
    assert slots.read(0) == (6, 60, b"a" * 16)


def test_resume_point_cuts_the_side_files_back_to_the_last_commit(tmp_path: Path) -> None:
    slots = ProgressSlots(bytearray(SLOT_PAIR_BYTES), 1)
    slots.commit(0, 3, 30, b"d" * 16)
    # Op 3 was in flight: its mark and digest reached the files, its commit never came.
    digests_path(tmp_path, 0).write_bytes(b"12345678" * 4)
    marks_path(tmp_path, 0).write_bytes(b"S 1\nK 2\nS 3\nK 3")
    point = resume_point(slots, tmp_path, 0)
    assert point is not None
    assert (point.ops, point.consumed, point.digest_state) == (3, 30, b"d" * 16)
    assert (point.substitutions, point.skipped) == ((1,), (2,))
    assert digests_path(tmp_path, 0).stat().st_size == 3 * DIGEST_BYTES
    assert read_marks(marks_path(tmp_path, 0)) == ([1], [2])


def test_a_user_that_never_committed_starts_afresh(tmp_path: Path) -> None:
    slots = ProgressSlots(bytearray(SLOT_PAIR_BYTES), 1)
    digests_path(tmp_path, 0).write_bytes(b"1234")
    assert resume_point(slots, tmp_path, 0) is None
    assert digests_path(tmp_path, 0).stat().st_size == 0


def _runner(
    tmp_path: Path,
    slots: ProgressSlots,
    monkeypatch: pytest.MonkeyPatch,
    spec: UserSpec,
) -> tuple[UserRunner, list[object]]:
    clock = FakeClock()
    monkeypatch.setattr("stress.engine.users.execute", fake_execute(clock, 0.001))
    flags = Controls(threading.Event(), threading.Event(), threading.Event())
    mode = "ab" if spec.resume is not None else "wb"
    sink = digests_path(tmp_path, 0).open(mode, buffering=0)
    marks = marks_path(tmp_path, 0).open(mode, buffering=0)
    plan = UserPlan(SEED, 0, profile("mixed"), LIMITS)
    journal = UserJournal(slots, 0, marks)
    runner = UserRunner(
        spec,
        plan,
        stub_store(clock, 0.001),
        StatsRecorder(),
        flags,
        sink,
        clock=clock,
        journal=journal,
    )
    return runner, [sink, marks]


def _run(
    folder: Path, monkeypatch: pytest.MonkeyPatch, spec: UserSpec, slots: ProgressSlots
) -> UserResult:
    runner, files = _runner(folder, slots, monkeypatch, spec)
    try:
        return runner.run()
    finally:
        for handle in files:
            handle.close()  # type: ignore[attr-defined]


def test_a_user_resumed_after_a_kill_ends_as_if_it_had_never_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forced = frozenset({2, 9, 25})
    whole = UserSpec(0, "mixed", 0, 0, ops_limit=40, forced_substitutions=forced)
    straight_dir, crash_dir = tmp_path / "straight", tmp_path / "crashed"
    straight_dir.mkdir()
    crash_dir.mkdir()
    straight = _run(straight_dir, monkeypatch, whole, ProgressSlots(bytearray(SLOT_PAIR_BYTES), 1))

    slots = ProgressSlots(bytearray(SLOT_PAIR_BYTES), 1)
    first = UserSpec(0, "mixed", 0, 0, ops_limit=17, forced_substitutions=forced)
    _run(crash_dir, monkeypatch, first, slots)
    # The kill came mid-op 17, after its digest and a mark were written, before its commit.
    with digests_path(crash_dir, 0).open("ab") as handle:
        handle.write(b"\xff" * DIGEST_BYTES)
    with marks_path(crash_dir, 0).open("ab") as handle:
        handle.write(b"S 17\n")
    point = resume_point(slots, crash_dir, 0)
    assert point is not None and point.ops == 17
    resumed_spec = UserSpec(
        0, "mixed", 0, 0, ops_limit=40, forced_substitutions=forced, resume=point
    )
    resumed = _run(crash_dir, monkeypatch, resumed_spec, slots)

    assert resumed.harness_error is None
    assert (resumed.ops_executed, resumed.plan_digest) == (40, straight.plan_digest)
    assert resumed.substitutions == straight.substitutions == sorted(forced)
    straight_digests = digests_path(straight_dir, 0).read_bytes()
    assert digests_path(crash_dir, 0).read_bytes() == straight_digests
    assert read_marks(marks_path(crash_dir, 0)) == (sorted(forced), [])

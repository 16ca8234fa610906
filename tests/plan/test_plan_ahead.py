"""Single inserts planned ahead: the same ops, value for value, as planned one at a time.

A profile made mostly of single inserts is planned a run at a time, its rows drawn a column
at a time (:mod:`stress.plan.ahead`); one op at a time is the reference (the oracle
regenerates an op in flight that way, and the replay files hold its digests). These tests
hold the two equal on every table, with think times, with other ops breaking the runs, after
a resume in the middle of a run, and check the stream's position after every op.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stress.metadb import JSON_TABLES
from stress.plan import ahead
from stress.plan.profiles import OP_ORDER, OpKind, Profile
from stress.plan.workload import PlanLimits, UserPlan

LIMITS = PlanLimits(1, 20, 0.0, 0.0, 5)


def _profile(single: float, tables: tuple[str, ...], think_max_ms: float = 0.0) -> Profile:
    rest = (1.0 - single) / (len(OP_ORDER) - 1)
    weights = tuple((op, single if op is OpKind.SINGLE_INSERT else rest) for op in OP_ORDER)
    shares = tuple((table, 1.0 / len(tables)) for table in tables)
    return Profile(
        name="ahead",
        path=Path("ahead.toml"),
        description="mostly single inserts",
        op_weights=weights,
        single_insert_tables=shares,
        bulk_insert_tables=shares,
        think_min_ms=0.5 if think_max_ms else None,
        think_max_ms=think_max_ms or None,
    )


def _ops(plan: UserPlan, count: int) -> list[tuple[bytes, int, int]]:
    """Each op's digest bytes, where its draws began, and the stream's position after it."""
    out = []
    for _ in range(count):
        op = plan.next_op()
        out.append((op.canonical(), op.draws_at, plan.draws.consumed))
    return out


def _one_by_one(seed: int, profile: Profile) -> UserPlan:
    plan = UserPlan(seed, 1, profile, LIMITS)
    plan._runs = None  # the reference: every op drawn on its own
    return plan


def test_a_mostly_single_insert_profile_is_planned_ahead_and_others_are_not() -> None:
    assert UserPlan(1, 0, _profile(0.95, ("ticks",)), LIMITS)._runs is not None
    assert UserPlan(1, 0, _profile(0.5, ("ticks",)), LIMITS)._runs is None


@pytest.mark.parametrize("table", JSON_TABLES)
def test_every_tables_single_inserts_are_the_ops_drawn_one_by_one(table: str) -> None:
    # 1,500 ops cross several runs of CHUNK ops and many 1,024-uniform blocks of the stream.
    profile = _profile(1.0, (table,))
    assert _ops(UserPlan(7, 1, profile, LIMITS), 1500) == _ops(_one_by_one(7, profile), 1500)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    single=st.sampled_from([0.9, 0.97, 1.0]),
    think_max_ms=st.sampled_from([0.0, 3.0]),
    tables=st.lists(st.sampled_from(JSON_TABLES), min_size=1, max_size=4, unique=True),
)
def test_runs_broken_by_other_ops_with_think_times_are_the_ops_drawn_one_by_one(
    seed: int, single: float, think_max_ms: float, tables: list[str]
) -> None:
    profile = _profile(single, tuple(tables), think_max_ms)
    ahead_ops = _ops(UserPlan(seed, 1, profile, LIMITS), 700)
    assert ahead_ops == _ops(_one_by_one(seed, profile), 700)
    if single < 1.0:  # the runs were broken: other kinds were planned one by one among them
        assert len({op[0].split(b",")[1] for op in ahead_ops}) > 1


@pytest.mark.parametrize("at", [1, 300, ahead.CHUNK + 5])
def test_a_plan_resumed_in_the_middle_of_a_run_continues_with_the_same_ops(at: int) -> None:
    profile = _profile(0.97, ("token_usage", "ticks"), think_max_ms=2.0)
    whole = _ops(UserPlan(3, 1, profile, LIMITS), at + 600)
    resumed = UserPlan(3, 1, profile, LIMITS)
    _ops(resumed, at // 2)  # a run planned ahead, then abandoned part-way by the resume
    resumed.resume_at(at, whole[at - 1][2])
    assert _ops(resumed, 600) == whole[at:]


def test_a_short_walk_stops_at_the_first_op_of_another_kind() -> None:
    profile = _profile(0.9, ("ticks",))
    plan = UserPlan(11, 1, profile, LIMITS)
    assert plan._runs is not None
    reference = _ops(_one_by_one(11, profile), 400)
    walked = plan._runs.walk(plan.draws, 0)
    kinds = [op[0].split(b",")[1] for op in reference]
    run = next(i for i, kind in enumerate(kinds) if kind != b'"single_insert"')
    assert len(walked) == run
    assert [op.canonical() for op, _ in walked] == [op[0] for op in reference[:run]]
    assert plan.draws.consumed == 0  # nothing consumed until handed out

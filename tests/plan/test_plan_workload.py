"""Plans: a pure function of (seed, user id, profile, limits), one stream per user."""

from __future__ import annotations

from collections import Counter

import pytest
from engine_helpers import canonical, planned_ops

from stress.config import DEFAULT_PROFILE_DIR
from stress.metadb import ANALYTICS
from stress.plan.profiles import WRITE_OPS, OpKind, Profile, load_profiles
from stress.plan.workload import PlanDigest, PlanLimits, PlannedOp, UserPlan, substitute_read

LIMITS = PlanLimits(
    batch_min=1, batch_max=50, think_min_ms=0, think_max_ms=5, query_complexity_max=5
)
SEED = 4242


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return load_profiles(DEFAULT_PROFILE_DIR)


def _digest(ops: list[PlannedOp], consumed: list[int]) -> str:
    digest = PlanDigest()
    for op, count in zip(ops, consumed, strict=True):
        digest.update(op, False, count)
    return digest.hexdigest()


def _run_plan(plan: UserPlan, count: int) -> tuple[list[PlannedOp], list[int]]:
    ops, consumed = [], []
    for _ in range(count):
        ops.append(plan.next_op())
        consumed.append(plan.draws.consumed)
    return ops, consumed


@pytest.mark.parametrize("name", ["inserter", "query", "mixed"])
def test_same_seed_user_and_profile_give_the_same_ops_and_digest(
    profiles: dict[str, Profile], name: str
) -> None:
    first = _run_plan(UserPlan(SEED, 3, profiles[name], LIMITS), 200)
    second = _run_plan(UserPlan(SEED, 3, profiles[name], LIMITS), 200)
    assert canonical(first[0]) == canonical(second[0])
    assert first[1] == second[1]
    assert _digest(*first) == _digest(*second)
    # Every kind the profile weighs shows up in 200 ops, so the check covers them all.
    kinds = Counter(op.kind for op in first[0])
    assert set(kinds) == {op for op, weight in profiles[name].op_weights if weight > 0}


def test_different_users_and_seeds_get_different_plans(profiles: dict[str, Profile]) -> None:
    mixed = profiles["mixed"]
    sequences = {
        (seed, user): tuple(canonical(planned_ops(seed, user, mixed, LIMITS, 20)))
        for seed in (SEED, SEED + 1)
        for user in range(4)
    }
    assert len(set(sequences.values())) == len(sequences)


def test_a_users_plan_does_not_depend_on_which_other_users_exist(
    profiles: dict[str, Profile],
) -> None:
    classes = ["inserter", "inserter", "query", "query", "mixed", "mixed"]

    def interleaved(user_ids: list[int]) -> dict[int, list[bytes]]:
        plans = {u: UserPlan(SEED, u, profiles[classes[u]], LIMITS) for u in user_ids}
        drawn: dict[int, list[bytes]] = {u: [] for u in user_ids}
        for _ in range(40):  # round-robin, as threads would interleave
            for user_id, plan in plans.items():
                drawn[user_id].append(plan.next_op().canonical())
        return drawn

    with_three = interleaved([0, 1, 2, 3, 4, 5])
    without_three = interleaved([0, 1, 2, 4, 5])
    assert all(with_three[u] == without_three[u] for u in (0, 1, 2, 4, 5))
    # A user's stream is fixed by its id, not its position among the users.
    renumbered = planned_ops(SEED, 3, profiles["inserter"], LIMITS, 40)
    assert canonical(renumbered) != with_three[4]


def test_think_settings_change_think_times_but_not_what_is_drawn(
    profiles: dict[str, Profile],
) -> None:
    slow = PlanLimits(1, 50, 100.0, 900.0, 5)
    fast_ops, fast_consumed = _run_plan(UserPlan(SEED, 1, profiles["mixed"], LIMITS), 100)
    slow_ops, slow_consumed = _run_plan(UserPlan(SEED, 1, profiles["mixed"], slow), 100)
    assert fast_consumed == slow_consumed
    for fast, slow_op in zip(fast_ops, slow_ops, strict=True):
        assert (fast.kind, fast.table, fast.rows, fast.query) == (
            slow_op.kind,
            slow_op.table,
            slow_op.rows,
            slow_op.query,
        )
        assert 0.0 <= fast.think_s < 0.005
        assert 0.1 <= slow_op.think_s < 0.9


def test_plan_values_respect_the_limits(profiles: dict[str, Profile]) -> None:
    limits = PlanLimits(3, 7, 0, 0, 1)
    for op in planned_ops(SEED, 0, profiles["inserter"], limits, 300):
        assert op.think_s == 0.0
        if op.kind is OpKind.BULK_INSERT:
            assert 3 <= len(op.rows) <= 7
        elif op.kind is OpKind.SINGLE_INSERT:
            assert len(op.rows) == 1
        elif op.kind is OpKind.SCHEMA_DDL:
            assert 1 <= op.ddl_columns <= 4
            assert 1 <= op.ddl_rows <= 10
        elif op.kind is not OpKind.SIMPLE_SELECT:
            # query_complexity_max=1: joins fall back to the one-table aggregates.
            assert op.query is not None
            assert ANALYTICS[op.query.name].complexity == 1


def test_substitute_read_draws_nothing_and_keeps_the_slot(profiles: dict[str, Profile]) -> None:
    plan = UserPlan(SEED, 0, profiles["inserter"], LIMITS)
    reference = planned_ops(SEED, 0, profiles["inserter"], LIMITS, 60)
    substituted = 0
    for expected in reference:
        op = plan.next_op()
        assert op.canonical() == expected.canonical()
        if op.kind not in WRITE_OPS:
            continue
        before = plan.draws.consumed
        read = substitute_read(op)
        assert plan.draws.consumed == before
        assert read.kind is OpKind.SIMPLE_SELECT
        assert (read.index, read.think_s) == (op.index, op.think_s)
        assert read.table == (op.table or "ticks")
        assert read.query is not None and read.query.params == (10,)
        substituted += 1
    assert substituted > 10


def test_the_digest_sees_the_substitution_flag_and_the_draw_count(
    profiles: dict[str, Profile],
) -> None:
    op = planned_ops(SEED, 0, profiles["mixed"], LIMITS, 1)[0]
    values = set()
    for substituted, consumed in ((False, 10), (True, 10), (False, 11)):
        digest = PlanDigest()
        per_op = digest.update(op, substituted, consumed)
        assert len(per_op) == 8
        assert digest.hexdigest()[:16] == per_op.hex()
        values.add(digest.hexdigest())
    assert len(values) == 3


@pytest.mark.parametrize("name", ["inserter", "mixed"])
def test_the_planned_ops_fast_digest_is_the_general_one(
    profiles: dict[str, Profile], name: str
) -> None:
    ops, consumed = _run_plan(UserPlan(SEED, 1, profiles[name], LIMITS), 300)
    general, fast = PlanDigest(), PlanDigest()
    for op, count in zip(ops, consumed, strict=True):
        assert fast.update_planned(op, count) == general.update(op, False, count)
        assert fast.state == general.state
    assert fast.hexdigest() == _digest(ops, consumed)


@pytest.mark.parametrize("at", [1, 20, 57])
def test_a_resumed_plan_continues_with_the_same_ops(profiles: dict[str, Profile], at: int) -> None:
    """A restarted user resumes from (ops done, uniforms consumed) without re-planning."""
    ops, consumed = _run_plan(UserPlan(SEED, 2, profiles["inserter"], LIMITS), 80)
    resumed = UserPlan(SEED, 2, profiles["inserter"], LIMITS)
    resumed.resume_at(at, consumed[at - 1])
    rest, rest_consumed = _run_plan(resumed, 80 - at)
    assert canonical(rest) == canonical(ops[at:])
    assert rest_consumed == consumed[at:]

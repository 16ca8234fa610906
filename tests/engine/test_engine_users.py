"""The user loop: timing, backpressure and the disk budget never shift what a user draws."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from engine_helpers import planned_ops
from monitor_helpers import FakeClock, stub_store

from stress.bench.overhead import bench_profile
from stress.config import DEFAULT_PROFILE_DIR
from stress.engine.users import Controls, UserResult, UserRunner, UserSpec
from stress.metadb import MetaDb
from stress.observe.hdrbulk import ValueBuffer
from stress.observe.stats import OpKeys, StatsAggregator, StatsRecorder
from stress.plan.profiles import WRITE_OPS, Profile, load_profiles
from stress.plan.workload import PlanLimits, PlannedOp, UserPlan

SEED = 77
LIMITS = PlanLimits(
    batch_min=1, batch_max=20, think_min_ms=0, think_max_ms=2, query_complexity_max=3
)


class SimulatedFlag:
    """A flag on a simulated clock: ``wait`` returns at once and adds to ``waited_s``."""

    def __init__(self, is_set: bool = False) -> None:
        self._set = is_set
        self.waited_s = 0.0

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        self.waited_s += timeout or 0.0
        return self._set

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False


class PauseFor(SimulatedFlag):
    """Backpressure that holds for the first ``checks`` looks at it, then lifts."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.checks = checks

    def is_set(self) -> bool:
        self.checks -= 1
        return self.checks >= 0


class ExplodingPlan(UserPlan):
    """A plan whose fourth op is a programming error."""

    def next_op(self) -> PlannedOp:
        if self._next_index == 3:
            raise RuntimeError("boom in the plan")
        return super().next_op()


@pytest.fixture(scope="module")
def mixed() -> Profile:
    return load_profiles(DEFAULT_PROFILE_DIR)["mixed"]


def _run(
    folder: Path,
    controls: Controls,
    profile: Profile,
    ops: int = 30,
    forced: frozenset[int] | None = None,
    plan_type: type[UserPlan] = UserPlan,
) -> tuple[UserRunner, UserResult, bytes]:
    folder.mkdir()
    spec = UserSpec(1, profile.name, 0, 0, ops_limit=ops, forced_substitutions=forced)
    plan = plan_type(SEED, 1, profile, LIMITS)
    sink = io.BytesIO()
    store = MetaDb.open(folder / "meta.db", folder)
    runner = UserRunner(spec, plan, store, StatsRecorder(), controls, sink)
    result = runner.run()
    return runner, result, sink.getvalue()


def _real_controls() -> Controls:
    return Controls(threading.Event(), threading.Event(), threading.Event())


def test_real_and_simulated_clocks_and_backpressure_give_the_same_digests(
    tmp_path: Path, mixed: Profile
) -> None:
    real = _real_controls()
    clock, pause = SimulatedFlag(), PauseFor(checks=25)
    simulated = Controls(clock, pause, SimulatedFlag())
    first, first_result, first_digests = _run(tmp_path / "real", real, mixed)
    second, second_result, second_digests = _run(tmp_path / "simulated", simulated, mixed)
    assert first_result.harness_error is None and second_result.harness_error is None
    assert first_result.ops_executed == second_result.ops_executed == 30
    assert first_result.plan_digest == second_result.plan_digest
    assert first_digests == second_digests and len(first_digests) == 30 * 8
    assert first.plan.draws.consumed == second.plan.draws.consumed
    # The simulated run did think and did wait out backpressure; neither cost a draw.
    assert clock.waited_s > 0
    waits = second.recorder.drain()
    assert any(key[0] == "backpressure_wait" for key in waits.histograms)
    assert sum(waits.ops.values()) == 30


def test_disk_budget_substitutes_every_write_and_draws_nothing(
    tmp_path: Path, mixed: Profile
) -> None:
    over = Controls(SimulatedFlag(), SimulatedFlag(), SimulatedFlag(is_set=True))
    free = Controls(SimulatedFlag(), SimulatedFlag(), SimulatedFlag())
    full, full_result, full_digests = _run(tmp_path / "over", over, mixed, ops=40)
    normal, normal_result, normal_digests = _run(tmp_path / "free", free, mixed, ops=40)
    plan = planned_ops(SEED, 1, mixed, LIMITS, 40)
    writes = [op.index for op in plan if op.kind in WRITE_OPS]
    assert writes, "the mixed profile wrote nothing in 40 ops"
    assert full_result.substitutions == writes
    assert normal_result.substitutions == []
    assert full.plan.draws.consumed == normal.plan.draws.consumed
    # The substitution is part of the hash chain (a replay must apply it at the same op):
    # the per-op digests agree up to the first substituted op and differ from there on.
    first = writes[0] * 8
    assert full_digests[:first] == normal_digests[:first]
    assert full_digests[first : first + 8] != normal_digests[first : first + 8]
    report = full.recorder.drain()
    assert report.rows_inserted == 0
    assert {op for _, op in report.ops} <= {"simple_select", "aggregate", "complex_join"}


def test_forced_substitutions_win_over_the_disk_flag(tmp_path: Path, mixed: Profile) -> None:
    plan = planned_ops(SEED, 1, mixed, LIMITS, 40)
    writes = [op.index for op in plan if op.kind in WRITE_OPS]
    forced = frozenset(writes[:2])
    controls = Controls(SimulatedFlag(), SimulatedFlag(), SimulatedFlag(is_set=True))
    _, result, _ = _run(tmp_path / "forced", controls, mixed, ops=40, forced=forced)
    assert result.substitutions == sorted(forced)


def test_a_stopped_user_draws_nothing(tmp_path: Path, mixed: Profile) -> None:
    stopped = Controls(SimulatedFlag(is_set=True), SimulatedFlag(), SimulatedFlag())
    runner, result, digests = _run(tmp_path / "stopped", stopped, mixed)
    assert (result.ops_executed, runner.plan.draws.consumed, digests) == (0, 0, b"")


def test_an_unexpected_exception_is_a_harness_error_not_a_crash(
    tmp_path: Path, mixed: Profile
) -> None:
    controls = Controls(SimulatedFlag(), SimulatedFlag(), SimulatedFlag())
    runner, result, digests = _run(tmp_path / "boom", controls, mixed, plan_type=ExplodingPlan)
    assert result.harness_error is not None
    assert "RuntimeError: boom in the plan" in result.harness_error
    assert result.ops_executed == 3
    assert len(digests) == 3 * 8
    assert len(result.last_ops) == 3
    assert result.last_ops[0].startswith("#0 ")
    assert result.plan_digest == runner.digest.hexdigest()


class _Batches(StatsRecorder):
    """A real recorder that also notes the size of each hand-over of landed single inserts."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def record_landed(self, keys: OpKeys, latencies: ValueBuffer, rows_each: int) -> None:
        self.sizes.append(len(latencies))
        super().record_landed(keys, latencies, rows_each)


@pytest.mark.parametrize("service_s", [0.004, 0.0])
def test_single_inserts_latencies_reach_the_recorder_in_small_batches_and_all_of_them(
    tmp_path: Path, service_s: float
) -> None:
    profile = bench_profile(tmp_path)
    clock = FakeClock()
    spec = UserSpec(0, profile.name, 0, 0, ops_limit=1000)
    recorder = _Batches()
    runner = UserRunner(
        spec,
        UserPlan(SEED, 0, profile, LIMITS),
        stub_store(clock, service_s),
        recorder,
        _real_controls(),
        clock=clock,
    )
    assert runner.run().ops_executed == 1000
    report = recorder.drain()
    assert report.ops == {(profile.name, "single_insert"): 1000}
    assert report.rows_inserted == 1000
    aggregator = StatsAggregator()
    aggregator.merge(report)
    latency = aggregator.results(clock.now())["latency_ms"]
    assert latency["count"] == 1000
    assert latency["p50"] == pytest.approx(service_s * 1000, abs=0.01)
    # Handed over as the run goes (every 10 ms of the user's clock, or 256 ops), not at the end.
    assert sum(recorder.sizes) == 1000
    assert max(recorder.sizes) == (3 if service_s else 256)

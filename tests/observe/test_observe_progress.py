"""The operator's view: the live line on a terminal and in a log, and the final results block."""

from __future__ import annotations

import io
from typing import Any

import pytest

from stress.controls import Flag
from stress.observe.progress import (
    ProgressReporter,
    format_duration,
    format_live_line,
    format_results_block,
)
from stress.observe.stats import LiveFigures, StatsAggregator, StatsRecorder

_FIGURES = LiveFigures(
    total_ops=1_234,
    errors=0,
    rows_inserted=50_000,
    interval_ops_per_s=98.7,
    interval_p99_ms=4.214,
    overall_p99_ms=5.0,
)
_LINE = "[ 12.5s / 30.0s ] 1,234 ops  98.7 ops/s  p99 4.21 ms  errors 0"


class _Clock:
    """A :class:`~stress.clock.Clock` the test moves by hand (``wait`` moves it instantly)."""

    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def wait(self, flag: Flag, seconds: float) -> bool:
        self.t += max(seconds, 0.0)
        return flag.is_set()


def test_live_line_shows_elapsed_total_ops_rate_p99_and_errors() -> None:
    assert format_live_line(_FIGURES, 12.5, total_s=30.0) == _LINE


def test_live_line_for_an_open_ended_or_op_bounded_run() -> None:
    assert format_live_line(_FIGURES, 12.5).startswith("[ 12.5s ] 1,234 ops ")
    line = format_live_line(_FIGURES, 12.5, total_ops=10_000)
    assert line.startswith("[ 12.5s ] 1,234 / 10,000 ops ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.0s"),
        (59.94, "59.9s"),
        (65.0, "1m05s"),
        (3_600.0, "1h00m00s"),
        (93_784.2, "26h03m04s"),
    ],
)
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_off_a_terminal_every_update_is_one_plain_line() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, total_s=30.0, total_ops=None)

    reporter.update(_FIGURES, 12.5)
    reporter.update(_FIGURES, 12.5)
    reporter.finish()

    assert stream.getvalue() == f"{_LINE}\n{_LINE}\n"


def test_on_a_terminal_the_line_is_rewritten_in_place() -> None:
    stream, clock = io.StringIO(), _Clock()
    reporter = ProgressReporter(stream, total_s=30.0, total_ops=None, is_tty=True, clock=clock)

    reporter.update(_FIGURES, 12.5)
    clock.t += 5.0
    reporter.update(_FIGURES, 17.5)
    reporter.finish()

    later = format_live_line(_FIGURES, 17.5, total_s=30.0)
    assert stream.getvalue() == f"\r\x1b[2K{_LINE}\r\x1b[2K{later}\n"


def test_terminal_repaints_are_throttled_and_finish_paints_the_last_figures() -> None:
    stream, clock = io.StringIO(), _Clock()
    reporter = ProgressReporter(stream, total_s=None, total_ops=None, is_tty=True, clock=clock)

    reporter.update(_FIGURES, 1.0)
    clock.t += 0.01
    reporter.update(_FIGURES, 1.01)
    painted = stream.getvalue()
    reporter.finish()

    assert painted.count("\r") == 1
    assert stream.getvalue().endswith(format_live_line(_FIGURES, 1.01) + "\n")


def test_the_repaint_throttle_runs_on_the_injected_clock() -> None:
    stream, clock = io.StringIO(), _Clock()
    reporter = ProgressReporter(
        stream, total_s=None, total_ops=None, is_tty=True, clock=clock, min_repaint_s=1.0
    )

    reporter.update(_FIGURES, 1.0)
    clock.t += 0.5
    reporter.update(_FIGURES, 1.5)  # held back: 0.5 s since the last paint
    clock.t += 0.5
    reporter.update(_FIGURES, 2.0)  # 1 s on the clock: painted, though no real time passed

    assert stream.getvalue() == f"\r\x1b[2K{format_live_line(_FIGURES, 1.0)}" + (
        f"\r\x1b[2K{format_live_line(_FIGURES, 2.0)}"
    )


def test_finish_without_updates_writes_nothing() -> None:
    stream = io.StringIO()
    ProgressReporter(stream, total_s=None, total_ops=None, is_tty=True).finish()

    assert stream.getvalue() == ""


def _results() -> dict[str, Any]:
    recorder = StatsRecorder()
    for _ in range(1_200):
        recorder.record_op("inserter", "bulk_insert", 2_000, True, rows_inserted=100)
    for _ in range(34):
        recorder.record_op("query", "simple_select", 1_000, False)
    for _ in range(3):
        recorder.record_error("query", "simple_select", "busy", "database is locked")
    aggregator = StatsAggregator()
    aggregator.merge(recorder.drain())
    return aggregator.results(12.34)


def _summary(
    results: dict[str, Any], stop_reason: str, run_dir: str, **extra: Any
) -> dict[str, Any]:
    return {"results": results, "stop_reason": stop_reason, "run_dir": run_dir, **extra}


def test_results_block_holds_the_numbers_and_where_the_artifacts_are() -> None:
    results = _results()

    block = format_results_block(_summary(results, "DurationElapsed", "/runs/2024-05-01T10-00-00"))

    assert "DurationElapsed after 12.3s" in block
    assert "1,234 (34 failed)" in block
    assert f"{results['throughput_ops_per_sec']:,.1f} ops/s" in block
    assert "120,000 inserted" in block
    assert f"{results['insert_rows_per_sec']:,.1f} rows/s" in block
    assert "p50 2.000  p95 2.000  p99 2.000  p99.9 2.000  max 2.000" in block
    assert "busy 3" in block
    assert "lock_timeout" not in block
    assert block.endswith("/runs/2024-05-01T10-00-00")


def test_results_block_table_by_op_is_aligned() -> None:
    block = format_results_block(_summary(_results(), "DurationElapsed", "/runs/x"))
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("op "))
    table = lines[start : start + 3]

    assert table[1].split() == ["bulk_insert", "1,200", "2.000", "2.000", "0"]
    assert table[2].split() == ["simple_select", "34", "1.000", "1.000", "34"]
    assert len({len(line) for line in table}) == 1


def test_results_block_says_none_when_there_were_no_errors() -> None:
    results = StatsAggregator().results(1.0)

    block = format_results_block(_summary(results, "UserAbort", "/runs/y"))

    assert "errors       none" in block
    assert "0 (0 failed)" in block


def _user(user_id: int, ops: int, **extra: Any) -> dict[str, Any]:
    return {"user_id": user_id, "class": "inserter", "ops_executed": ops, "last_ops": [], **extra}


def test_a_crash_is_not_errors_none() -> None:
    crash = {"worker_idx": 1, "pid": 42, "signal": "SIGKILL"}
    block = format_results_block(
        _summary(StatsAggregator().results(1.0), "CrashDetected", "/r", crashes=[crash])
    )
    assert "errors       none from the store; 1 worker crash (below)" in block


def test_operations_come_from_what_the_users_recorded() -> None:
    # 1,234 ops reached the stats; the users' journals say 1,300 ran (a killed worker's
    # last 66 never made it into a report).
    users = [_user(0, 700), _user(1, 600)]
    block = format_results_block(_summary(_results(), "DurationElapsed", "/r", users=users))
    assert "operations   1,300 (34 failed)" in block
    assert "66 of them ran after their worker's last report" in block


def test_interrupted_ops_are_shown_apart() -> None:
    results = {**_results(), "interrupted": 3}
    users = [_user(0, 1_234, interrupted=3)]
    block = format_results_block(_summary(results, "DurationElapsed", "/r", users=users))
    assert "1,234 (34 failed; 3 more interrupted at the stop, rolled back)" in block
    assert "ran after their worker's last report" not in block


def test_a_resource_limit_names_the_resource() -> None:
    backpressure = {
        "stalled_by": ["memory"],
        "limits": {"memory": 4096.0, "cpu": 180.0, "wal": 512.0, "disk": 2048.0},
        "max_stall_s": 60.0,
        "paused_s": 61.0,
        "paused_s_by_cause": {"memory": 61.0, "cpu": 0.0, "wal": 0.0},
    }
    summary = _summary(_results(), "ResourceLimit", "/r", backpressure=backpressure)
    block = format_results_block(summary)
    assert "ResourceLimit after 12.3s: memory above 4,096 MB, users paused longer than 60 s" in (
        block
    )
    assert "backpressure users paused 61.0 s (memory 61.0 s)" in block


def test_a_full_disk_is_named_as_the_resource() -> None:
    backpressure = {"stalled_by": [], "stop_cause": "disk", "disk_full_at_s": 4.427}
    summary = _summary(_results(), "ResourceLimit", "/r", backpressure=backpressure)
    block = format_results_block(summary)
    assert "ResourceLimit after 12.3s: disk full (no room to write, first met 4.4 s" in block


def test_engine_refusals_are_named_with_their_share_of_ops() -> None:
    recorder = StatsRecorder()
    for index in range(100):
        refused = index < 44
        recorder.record_op("inserter", "single_insert", 1_000, not refused)
        if refused:
            recorder.record_error("inserter", "single_insert", "spooled", "engine_refused: ...")
            recorder.count("store_error.engine_refused")
    aggregator = StatsAggregator()
    aggregator.merge(recorder.drain())
    block = format_results_block(_summary(aggregator.results(1.0), "DurationElapsed", "/r"))
    assert "errors       spooled 44 (44% of ops)" in block
    assert "causes       engine_refused 44 (44% of ops): the engine refused to open the file" in (
        block
    )
    assert "turso refuses a second process on the same file" in block


def test_substitutions_open_loop_limits_and_resources_are_shown() -> None:
    results = {
        **_results(),
        "counters": {"late_ops": 7, "skipped_ops": 5, "over_limit_ops": 9},
        "metrics": {"schedule_lag": {"inserter": {"bulk_insert": {"p99": 12.5}}}},
        "peak_memory_mb": 312.4,
        "peak_cpu_percent": 150.0,
        "peak_load": 3.21,
        "disk_used_mb": 45.25,
    }
    open_loop = {
        "target_ops_per_sec": 500.0,
        "achieved_ops_per_sec": 480.2,
        "late_ops": 7,
        "skipped_ops": 5,
        "over_limit_ops": 9,
    }
    users = [_user(0, 1_239, substitutions=10, skipped=5)]
    summary = _summary(
        results,
        "DurationElapsed",
        "/r",
        users=users,
        open_loop=open_loop,
        config={"latency_limit_ms": 100.0},
        backpressure={"disk_over_s": 3.25, "paused_s": 0.0},
        resources={
            "peak_memory_mb": 312.4,
            "peak_rss_mb_by_process": {"worker-0": 101.3, "coordinator": 85.2},
        },
    )
    block = format_results_block(summary)
    assert "operations   1,239 (34 failed, 5 skipped)" in block
    memory = "312.4 MB in all (sampled); own peaks: coordinator 85.2, worker-0 101.3 MB"
    assert f"memory       {memory}" in block
    assert "substituted  10 writes ran as selects: the disk budget was spent for 3.2 s" in block
    assert (
        "open loop    target 500.0 ops/s, achieved 480.2; schedule lag p99 up to 12.500 ms; "
        "7 late; 5 skipped; 9 over the 100 ms latency limit"
    ) in block
    assert "resources    peak memory 312.4 MB  cpu 150% of one core  load 3.21  disk 45.2 MB" in (
        block
    )
    assert "backpressure" not in block


def test_a_stalled_run_says_for_how_long_and_the_users_last_ops() -> None:
    stall = {
        "at_s": 50.2,
        "since_s": 20.0,
        "no_progress_s": 30.2,
        "bound_s": 30.0,
        "users": [
            {"user_id": 0, "ops_executed": 9, "last_ops": ["#8 bulk_insert"]},
            {"user_id": 1, "ops_executed": 0, "last_ops": []},
        ],
    }
    block = format_results_block(_summary(_results(), "Stalled", "/r", stall=stall))
    assert "Stalled after 12.3s: no user completed an op for 30.2 s (from 20.0 s; bound 30 s)" in (
        block
    )
    assert "stall        last ops: user 0 #8 bulk_insert; user 1 no op yet" in block

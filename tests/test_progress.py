"""The operator's view: the live line on a terminal and in a log, and the final results block."""

from __future__ import annotations

import io
from typing import Any

import pytest

from stress.progress import (
    ProgressReporter,
    format_duration,
    format_live_line,
    format_results_block,
)
from stress.stats import LiveFigures, StatsAggregator, StatsRecorder

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
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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
    clock.now += 5.0
    reporter.update(_FIGURES, 17.5)
    reporter.finish()

    later = format_live_line(_FIGURES, 17.5, total_s=30.0)
    assert stream.getvalue() == f"\r\x1b[2K{_LINE}\r\x1b[2K{later}\n"


def test_terminal_repaints_are_throttled_and_finish_paints_the_last_figures() -> None:
    stream, clock = io.StringIO(), _Clock()
    reporter = ProgressReporter(stream, total_s=None, total_ops=None, is_tty=True, clock=clock)

    reporter.update(_FIGURES, 1.0)
    clock.now += 0.01
    reporter.update(_FIGURES, 1.01)
    painted = stream.getvalue()
    reporter.finish()

    assert painted.count("\r") == 1
    assert stream.getvalue().endswith(format_live_line(_FIGURES, 1.01) + "\n")


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


def test_results_block_holds_the_numbers_and_where_the_artifacts_are() -> None:
    results = _results()

    block = format_results_block(results, "DurationElapsed", "/runs/2024-05-01T10-00-00")

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
    block = format_results_block(_results(), "DurationElapsed", "/runs/x")
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("op "))
    table = lines[start : start + 3]

    assert table[1].split() == ["bulk_insert", "1,200", "2.000", "2.000", "0"]
    assert table[2].split() == ["simple_select", "34", "1.000", "1.000", "34"]
    assert len({len(line) for line in table}) == 1


def test_results_block_says_none_when_there_were_no_errors() -> None:
    results = StatsAggregator().results(1.0)

    block = format_results_block(results, "UserAbort", "/runs/y")

    assert "errors       none" in block
    assert "0 (0 failed)" in block

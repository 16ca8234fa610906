"""The per-interval HDR logs: what the hdrhistogram package's own reader decodes from them.

- a real run's logs add up to the same totals (count, max, percentiles) as its summary.json,
  per op, per class and op, and per other metric;
- each line's bounds are the summary timeline's intervals; an empty interval writes nothing;
- a full disk (a real tmpfs) stops the logs with the reason, never the run; a whole run whose
  hlog folder is a full disk passes, and its summary.json and last lines say why its logs
  are short.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from disk_helpers import fill, tmpfs
from engine_helpers import small_settings

from stress.cli.main import main
from stress.engine.runner import RunOutcome, run_simulation
from stress.observe.hlog import HLOG_DIR, HlogWriter, hlog_path, read_hlog
from stress.observe.stats import (
    LATENCY,
    StatsAggregator,
    StatsRecorder,
    new_histogram,
    percentiles_ms,
)


def _merged(path: Path) -> Any:
    total = new_histogram()
    for interval in read_hlog(path):
        total.add(interval.histogram)
    return total


def test_a_real_runs_logs_decode_to_the_summarys_totals(process_run: RunOutcome) -> None:
    folder = process_run.run_dir / HLOG_DIR
    results = process_run.summary["results"]
    assert results["latency_by_op"], "the run recorded no op"
    for op, figures in results["latency_by_op"].items():
        assert percentiles_ms(_merged(hlog_path(folder, LATENCY, op))) == figures, op
    for user_class, by_op in results["latency_by_class"].items():
        for op, figures in by_op.items():
            if op != "all":
                path = hlog_path(folder, LATENCY, op, user_class)
                assert percentiles_ms(_merged(path)) == figures, (user_class, op)
    for metric, by_class in results["metrics"].items():
        for user_class, by_op in by_class.items():
            for op, figures in by_op.items():
                path = hlog_path(folder, metric, op, user_class)
                assert percentiles_ms(_merged(path)) == figures, (metric, user_class, op)
    logged = sum(
        interval.histogram.get_total_count()
        for op in results["latency_by_op"]
        for interval in read_hlog(hlog_path(folder, LATENCY, op))
    )
    assert logged == results["total_operations"]


def _report(user_class: str, op: str, micros: list[int]) -> Any:
    recorder = StatsRecorder()
    for value in micros:
        recorder.record_op(user_class, op, value, True)
        recorder.record_value("service", user_class, op, value // 2)
    return recorder.drain()


def test_lines_carry_the_timelines_intervals_and_an_empty_interval_writes_none(
    tmp_path: Path,
) -> None:
    writer = HlogWriter(tmp_path, start_epoch_s=1_700_000_000.0)
    aggregator = StatsAggregator(interval_sink=writer)
    aggregator.merge(_report("inserter", "bulk_insert", [1_000, 2_000, 3_000]))
    aggregator.merge(_report("query", "bulk_insert", [500]))
    aggregator.close_interval(0.5)
    aggregator.merge(_report("query", "aggregate", [7_000]))
    aggregator.close_interval(1.0)
    aggregator.merge(_report("inserter", "bulk_insert", [40_000]))
    results = aggregator.results(1.75)

    lines = list(read_hlog(hlog_path(tmp_path, LATENCY, "bulk_insert")))
    assert [(i.start_s, i.end_s) for i in lines] == [(0.0, 0.5), (1.0, 1.75)]
    assert [i.histogram.get_total_count() for i in lines] == [4, 1]
    timeline = [(round(e["t_s"] - e["interval_s"], 3), e["t_s"]) for e in results["timeline"]]
    assert timeline == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.75)]
    by_class = list(read_hlog(hlog_path(tmp_path, LATENCY, "bulk_insert", "query")))
    assert [i.histogram.get_total_count() for i in by_class] == [1]
    service = _merged(hlog_path(tmp_path, "service", "bulk_insert", "inserter"))
    assert service.get_max_value() == new_histogram().get_highest_equivalent_value(20_000)
    text = hlog_path(tmp_path, LATENCY, "aggregate").read_text(encoding="utf-8")
    assert "#[StartTime: 1700000000.000000 (seconds since epoch)" in text
    assert "#[BaseTime: 1700000000.000000 (seconds since epoch)]" in text
    # Interval_Max is in ms: the one 7 ms value.
    assert text.splitlines()[-1].startswith("0.500000,0.500000,7.000000,HIST")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, unmounted afterwards (skips where mounting is refused)."""
    with tmpfs(tmp_path / "disk", "1m") as point:
        yield point


def test_a_full_disk_stops_the_logs_with_the_reason_not_the_run(tiny_disk: Path) -> None:
    writer = HlogWriter(tiny_disk / HLOG_DIR, start_epoch_s=1_700_000_000.0)
    aggregator = StatsAggregator(interval_sink=writer)
    aggregator.merge(_report("inserter", "bulk_insert", [1_000]))
    aggregator.close_interval(1.0)
    assert writer.error is None
    fill(tiny_disk)
    aggregator.merge(_report("query", "aggregate", list(range(1, 5000, 7))))
    aggregator.close_interval(2.0)
    assert writer.error is not None and "No space left" in writer.error
    # What was written before stays whole and readable.
    lines = list(read_hlog(hlog_path(tiny_disk / HLOG_DIR, LATENCY, "bulk_insert")))
    assert [i.histogram.get_total_count() for i in lines] == [1]
    assert aggregator.results(2.0)["total_operations"] == 1 + len(range(1, 5000, 7))


def test_a_run_whose_hlog_folder_is_full_says_its_logs_are_short(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with tmpfs(run_dir / HLOG_DIR, "1m") as disk:
        fill(disk)
        out = io.StringIO()
        outcome = run_simulation(small_settings(run_dir, max_ops_per_user=20), out=out)
    assert outcome.exit_code == 0, out.getvalue()  # the store's verdict stands
    error = outcome.summary["hlog_error"]
    assert error is not None and "No space left" in error, outcome.summary
    assert f"hlog         incomplete: the per-interval HDR logs stop at {error}" in out.getvalue()
    # The report's plots drawn from the logs say where they stop (the page itself is whole).
    pytest.importorskip("matplotlib", reason="the report extra: pip install 'stress[report]'")
    assert main(["report", str(run_dir)], io.StringIO()) == 0
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page.count("<p class=bad>The HDR logs stop early: ") == 2

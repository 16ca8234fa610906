"""The concurrent-writers bench: its output shape, its flags, and its loss accounting."""

from __future__ import annotations

import argparse
import functools
import io
import os
from pathlib import Path

import numpy as np
import orjson
import pytest

from stress.bench import writers
from stress.bench.fanout import Lane, run_workers
from stress.bench.writers import (
    JSON_KEYS,
    WritersRow,
    account,
    format_markdown,
    sqlite_failures,
    target_summaries,
)
from stress.cli.bench import add_writers_arguments, plan_from_args, run_writers_command
from stress.cli.main import main
from stress.errors import ConfigError
from stress.metadb.records import validate_record


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_writers_arguments(parser)
    return parser.parse_args(list(argv))


def _row(connection: str, ids: str, writes_per_s: float, **changes: object) -> WritersRow:
    fields: dict[str, object] = {
        "engine": "sqlite",
        "connection": connection,
        "ids": ids,
        "writers": 32,
        "attempted": 16_000,
        "landed": 16_000,
        "failed": 0,
        "spooled": 0,
        "lost": 0,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "wall_ms": 1000.0,
        "writes_per_s": writes_per_s,
    }
    fields.update(changes)
    return WritersRow(**fields)  # type: ignore[arg-type]


# -- a real run, small -----------------------------------------------------------------------


def test_small_run_prints_json_with_exact_keys_and_no_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(
        "--writers", "1,2", "--rows-per-writer", "20", "--connection", "per-op,long-lived",
        "--ids", "block", "--dir", str(tmp_path), "--json",
    )  # fmt: skip
    out = io.StringIO()

    code = run_writers_command(args, out)

    results = orjson.loads(out.getvalue())
    assert code == 0
    assert [(r["connection"], r["writers"]) for r in results] == [
        ("per-op", 1), ("long-lived", 1), ("per-op", 2), ("long-lived", 2),
    ]  # fmt: skip
    for result in results:
        assert tuple(result) == JSON_KEYS
        assert result["attempted"] == result["writers"] * 20
        assert result["landed"] == result["attempted"]
        assert (result["lost"], result["failed"], result["spooled"]) == (0, 0, 0)
        assert result["wall_ms"] > 0
        assert result["p95_ms"] >= result["p50_ms"] > 0
    # Progress goes to stderr, one line per combination, so stdout stays pure JSON.
    assert capsys.readouterr().err.count("landed") == 4


def test_each_combination_gets_its_own_database_and_spool(tmp_path: Path) -> None:
    args = _args(
        "--writers", "2", "--rows-per-writer", "5", "--connection", "per-op",
        "--ids", "row,rowid", "--dir", str(tmp_path), "--table", "cli_invocations",
    )  # fmt: skip
    out = io.StringIO()

    assert run_writers_command(args, out) == 0

    folders = sorted(path.name for path in tmp_path.iterdir())
    assert len(folders) == 2
    assert all((tmp_path / name / "meta.db").exists() for name in folders)
    assert "| sqlite | per-op | rowid | 2 | 10 | 10 | 0 | 0 | 0 |" in out.getvalue()
    first = out.getvalue().splitlines()[0]
    assert first.startswith("stress bench writers: sqlite ")
    assert first.endswith("; workers as processes; 5 rows per writer into cli_invocations")


def test_turso_refusing_a_second_process_is_reported_not_a_bench_failure(tmp_path: Path) -> None:
    pytest.importorskip("turso")  # an optional extra
    args = _args(
        "--writers", "3", "--rows-per-writer", "10", "--engine", "turso",
        "--connection", "long-lived", "--ids", "rowid", "--dir", str(tmp_path), "--json",
    )  # fmt: skip
    out = io.StringIO()

    assert run_writers_command(args, out) == 0

    (result,) = orjson.loads(out.getvalue())
    assert result["lost"] == 0
    assert result["landed"] + result["spooled"] + result["failed"] == 30
    assert result["spooled"] > 0


# -- flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--writers", "0"),
        ("--writers", "x"),
        ("--writers", "1,,2"),
        ("--engine", "foo"),
        ("--connection", "pooled"),
        ("--ids", "bogus"),
        ("--rows-per-writer", "0"),
        ("--table", "nope"),
    ],
)
def test_bad_flag_is_a_config_error_naming_flag_value_and_choices(flag: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_from_args(_args(flag, value))

    assert caught.value.name == flag
    assert caught.value.value == value
    assert str(caught.value).startswith(f"{flag}={value}: ")


def test_main_prints_one_line_and_exits_2_on_a_bad_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "writers", "--ids", "bogus"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "ConfigError: --ids=bogus: give a comma list of row, block, rowid\n"


def test_defaults_match_the_original_shape() -> None:
    plan = plan_from_args(_args())

    assert plan.writer_counts == (1, 4, 8, 16, 32)
    assert plan.rows_per_writer == 500
    assert (plan.engines, plan.connections, plan.ids) == (
        ("sqlite",),
        ("per-op", "long-lived"),
        ("row", "block"),
    )
    assert len(plan.combinations()) == 5 * 2 * 2


# -- accounting ------------------------------------------------------------------------------


def test_account_is_clean_when_everything_is_where_writers_said() -> None:
    assert account(100, 90, 8, 2, rows_in_table=90, spool_lines=8).lost == 0


def test_account_catches_rows_reported_persisted_but_missing_from_the_table() -> None:
    accounting = account(100, 100, 0, 0, rows_in_table=97, spool_lines=0)

    assert accounting.lost == 3
    assert accounting.notes == ("3 writes reported persisted are not in the table",)


def test_account_catches_writes_with_no_outcome_and_spool_lines_missing() -> None:
    accounting = account(100, 90, 6, 1, rows_in_table=90, spool_lines=4)

    assert accounting.lost == 3 + 2


def test_account_surplus_rows_are_noted_not_lost() -> None:
    accounting = account(10, 8, 0, 2, rows_in_table=9, spool_lines=0)

    assert accounting.lost == 0
    assert accounting.notes == ("table holds 1 rows more than writers reported persisted",)


def test_writer_report_counts_caught_exceptions_with_class_and_message() -> None:
    report = writers._WriterReport(0)

    report.note_exception(RuntimeError("disk on fire"))
    report.note_exception(RuntimeError("disk on fire"))

    assert report.failed == 2
    assert report.errors == {"RuntimeError: disk on fire": 2}


def _dies(code: int, lane: Lane) -> writers._WriterReport:
    os._exit(code)  # a real death: no report, no cleanup


@pytest.mark.slow
def test_a_writer_that_dies_without_reporting_counts_its_rows_as_failed() -> None:
    died = functools.partial(writers._died, rows=5)

    (report,), _ = run_workers("processes", _dies, [3], died)

    assert report.failed == 5
    assert report.errors == {"WorkerDied: exit code 3 before reporting": 5}


@pytest.mark.slow
def test_threads_mode_writes_every_row_in_one_process(tmp_path: Path) -> None:
    args = _args(
        "--writers", "3", "--rows-per-writer", "10", "--connection", "long-lived",
        "--ids", "block", "--mode", "threads", "--dir", str(tmp_path), "--json",
    )  # fmt: skip
    out = io.StringIO()

    assert run_writers_command(args, out) == 0

    (result,) = orjson.loads(out.getvalue())
    assert (result["landed"], result["lost"], result["failed"]) == (30, 0, 0)


def test_writers_use_the_original_percentile() -> None:
    # Rank round((n - 1) * q): of 1..20, p50 is the 11th (rank 9.5 rounds up), p95 the 19th
    # (rank 18.05); linear interpolation would give 10.5 and 19.05.
    assert writers._percentiles_ms([[float(i) for i in range(1, 21)]]) == (11.0, 19.0)


# -- output ----------------------------------------------------------------------------------


def test_markdown_has_the_original_columns_and_notes_for_spooled_rows() -> None:
    spooled = _row("long-lived", "block", 50.0, engine="turso", landed=500, spooled=15_500)
    spooled = WritersRow(**{**spooled.__dict__, "spool_classes": {"engine_refused": 15_500}})

    text = format_markdown([_row("per-op", "row", 1000.0), spooled])

    lines = text.splitlines()
    assert lines[0].startswith("| engine | connection | ids | writers | attempted | landed |")
    assert lines[0].endswith("| median ms | p95 ms | wall ms | writes/s |")
    assert lines[2] == (
        "| sqlite | per-op | row | 32 | 16000 | 16000 | 0 | 0 | 0 | 1.00 | 2.00 | 1000 | 1000 |"
    )
    assert "- turso long-lived block 32 writers: spooled as engine_refused x15500" in text


def test_target_summary_compares_at_the_largest_writer_count() -> None:
    rows = [
        _row("per-op", "row", 100.0, writers=1),
        _row("long-lived", "block", 150.0, writers=1),
        _row("per-op", "row", 1000.0),
        _row("long-lived", "block", 4100.0),
    ]

    assert target_summaries(rows) == [
        "sqlite, 32 writers: long-lived+block / per-op+row = 4.1x (target >= 3x: met)"
    ]
    assert target_summaries(rows[:3]) == []


def test_only_sqlite_rows_with_loss_or_failure_fail_the_bench() -> None:
    plan = plan_from_args(_args())
    rows = [
        _row("per-op", "row", 1000.0, lost=3),
        _row("per-op", "block", 1000.0),
        _row("per-op", "row", 10.0, engine="turso", failed=5),
    ]

    (line,) = sqlite_failures(rows, plan)

    assert line.startswith("FAILED sqlite per-op row 32 writers: lost 3, failed 0; reproduce: ")
    assert "--writers 32 --engine sqlite --connection per-op --ids row" in line
    assert "; reproduce: stress bench writers --writers 32 " in line


@pytest.mark.parametrize("table", writers.TABLES)
def test_writers_write_the_simulators_own_rows_which_the_store_accepts(table: str) -> None:
    seed = np.random.SeedSequence(7)
    rows = writers._make_rows(table, 50, seed)
    assert rows == writers._make_rows(table, 50, np.random.SeedSequence(7))
    assert len({orjson.dumps(row) for row in rows}) == 50
    for row in rows:
        validate_record(table, row)


def test_writer_loop_with_threads_per_process_lands_every_write(tmp_path: Path) -> None:
    args = _args(
        "--writers", "2", "--threads", "4", "--rows-per-writer", "40",
        "--connection", "long-lived,writer-loop", "--ids", "block", "--dir", str(tmp_path),
    )  # fmt: skip
    out = io.StringIO()

    assert run_writers_command(args, out) == 0

    table = out.getvalue()
    assert "| sqlite | long-lived | block | 2x4 | 80 | 80 | 0 | 0 | 0 |" in table
    assert "| sqlite | writer-loop | block | 2x4 | 80 | 80 | 0 | 0 | 0 |" in table

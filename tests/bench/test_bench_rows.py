"""``stress bench rows``: its flags, and its figures from a small real run."""

from __future__ import annotations

import io

import orjson
import pytest

from stress.bench.rows import RowsPlan, format_rows, measure_rows
from stress.cli.main import main


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--rows", "0"], "ConfigError: --rows=0: must be a whole number, at least 1\n"),
        (["--tables", "ticks,nope"], "ConfigError: --tables=ticks,nope: give a comma list of "),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert main(["bench", "rows", *argv], out=out) == 2
    assert out.getvalue() == ""
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_a_small_run_reports_both_ways_for_each_table() -> None:
    out = io.StringIO()
    argv = ["bench", "rows", "--rows", "300", "--rounds", "2", "--tables", "ticks,git_operations"]
    assert main([*argv, "--json"], out=out) == 0
    document = orjson.loads(out.getvalue())
    assert (document["rows"], document["rounds"]) == (300, 2)
    assert list(document["tables"]) == ["ticks", "git_operations"]
    for row in document["tables"].values():
        assert row["one_by_one_rows_per_s"] > 0 and row["bulk_rows_per_s"] > 0
        low, high = row["speedup_spread"]
        assert low <= row["speedup"] <= high


def test_the_table_names_each_table_and_the_target() -> None:
    text = format_rows(measure_rows(RowsPlan(rows=50, rounds=1, tables=("crashes",))))
    lines = text.splitlines()
    assert "target >= 3" in lines[0]
    assert lines[1].split()[0] == "crashes" and lines[1].endswith("of 1)")

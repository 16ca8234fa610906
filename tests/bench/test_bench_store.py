"""``stress bench store``: its flags, and the store-vs-raw table from a small real run."""

from __future__ import annotations

import io

import orjson
import pytest

from stress.cli.main import main


def test_a_bad_flag_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(["bench", "store", "--rounds", "0"], out=out) == 2
    assert out.getvalue() == ""
    assert capsys.readouterr().err == (
        "ConfigError: --rounds=0: must be a whole number, at least 1\n"
    )


@pytest.mark.slow
def test_a_small_run_gives_every_scenario_raw_store_and_ratio_spread() -> None:
    out = io.StringIO()
    argv = ["bench", "store", "--rounds", "2", "--single-rows", "50", "--batches", "2"]
    assert main([*argv, "--processes", "2", "--rows-per-process", "20", "--json"], out=out) == 0
    document = orjson.loads(out.getvalue())
    assert list(document["scenarios"]) == ["single", "batch", "processes"]
    for name, figures in document["scenarios"].items():
        assert figures["raw_rows_per_s"] > 0 and figures["store_rows_per_s"] > 0, name
        low, high = figures["ratio_spread"]
        assert low <= figures["ratio"] <= high, name
    for name in ("single", "batch"):
        figures = document["scenarios"][name]
        assert figures["raw_cpu_us_per_row"] > 0 and figures["store_cpu_us_per_row"] > 0
        low, high = figures["cpu_ratio_spread"]
        assert low <= figures["cpu_ratio"] <= high
    assert "cpu_ratio" not in document["scenarios"]["processes"]
    assert document["scenarios"]["single"]["target"] == 0.8
    assert document["scenarios"]["batch"]["target"] == 0.6
    table = io.StringIO()
    assert main([*argv, "--processes", "0"], out=table) == 0
    assert "| single |" in table.getvalue() and "| batch |" in table.getvalue()
    assert "processes |" not in table.getvalue()

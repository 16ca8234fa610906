"""``stress bench overhead``: its flags, and its figures from a small real run."""

from __future__ import annotations

import io

import orjson
import pytest

from stress.cli.main import main


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--ops", "5"], "ConfigError: --ops=5: must be a whole number, at least 100\n"),
        (["--rounds", "x"], "ConfigError: --rounds=x: must be a whole number, at least 1\n"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert main(["bench", "overhead", *argv], out=out) == 2
    assert out.getvalue() == ""
    assert capsys.readouterr().err == line


@pytest.mark.slow
def test_a_small_run_prints_both_loops_the_ratios_the_parts_and_the_peak_memory() -> None:
    out = io.StringIO()
    argv = ["bench", "overhead", "--ops", "100", "--rounds", "2", "--memory-ops", "100"]
    assert main([*argv, "--connection", "per-op", "--ids", "row"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == [
        "direct",
        "through",
        "ratio",
        "cpu",
        "parts",
        "load",
        "peak",
    ]
    assert "(target >= 0.95; rounds " in lines[2] and lines[2].endswith(" of 2)")
    assert lines[4].endswith(", target <= 3)")
    assert lines[6].endswith("MB after 100 ops (target < 150 MB at 1,000,000)")

    out = io.StringIO()
    assert main([*argv, "--json"], out=out) == 0
    figures = orjson.loads(out.getvalue())
    assert list(figures) == [
        "direct_ops_per_s",
        "simulated_ops_per_s",
        "ratio",
        "ratio_spread",
        "direct_cpu_us_per_op",
        "simulated_cpu_us_per_op",
        "cpu_ratio",
        "cpu_ratio_spread",
        "rounds",
        "parts_us_per_op",
        "own_us_per_op",
        "load_average",
        "memory_ops",
        "peak_rss_mb",
    ]
    assert figures["direct_ops_per_s"] > 0 and figures["simulated_ops_per_s"] > 0
    low, high = figures["ratio_spread"]
    assert low <= figures["ratio"] <= high
    low, high = figures["cpu_ratio_spread"]
    assert low <= figures["cpu_ratio"] <= high
    assert figures["direct_cpu_us_per_op"] > 0 and figures["simulated_cpu_us_per_op"] > 0
    parts = figures["parts_us_per_op"]
    assert list(parts) == [
        "plan",
        "digest",
        "ledger",
        "stats",
        "store",
        "loop",
        "oracle",
        "rest",
    ]
    for part in ("plan", "digest", "ledger", "stats", "store"):
        assert parts[part] > 0, part
    own = parts["digest"] + parts["ledger"] + parts["stats"] + parts["loop"]
    assert figures["own_us_per_op"] == pytest.approx(own, abs=0.02)
    assert figures["memory_ops"] == 100 and figures["peak_rss_mb"] > 0

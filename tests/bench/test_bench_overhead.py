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
def test_a_small_run_prints_both_loops_the_ratio_and_the_peak_memory() -> None:
    out = io.StringIO()
    argv = ["bench", "overhead", "--ops", "100", "--rounds", "1", "--memory-ops", "100"]
    assert main([*argv, "--connection", "per-op", "--ids", "row"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["direct", "through", "ratio", "peak"]
    assert lines[2].endswith("(target >= 0.85)")
    assert lines[3].endswith("MB after 100 ops (target < 150 MB at 1,000,000)")

    out = io.StringIO()
    assert main([*argv, "--json"], out=out) == 0
    figures = orjson.loads(out.getvalue())
    assert list(figures) == [
        "direct_ops_per_s",
        "simulated_ops_per_s",
        "ratio",
        "memory_ops",
        "peak_rss_mb",
    ]
    assert figures["direct_ops_per_s"] > 0 and figures["simulated_ops_per_s"] > 0
    assert figures["ratio"] == pytest.approx(
        figures["simulated_ops_per_s"] / figures["direct_ops_per_s"], abs=0.001
    )
    assert figures["memory_ops"] == 100 and figures["peak_rss_mb"] > 0

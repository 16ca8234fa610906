"""``stress bench sweep``: its flags, and its figures from two tiny rounds."""

from __future__ import annotations

import io

import orjson
import pytest

from stress.cli.main import main


def test_a_bad_flag_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(["bench", "sweep", "--workers", "0"], out=out) == 2
    assert out.getvalue() == ""
    assert capsys.readouterr().err == (
        "ConfigError: --workers=0: must be a whole number, at least 1\n"
    )


@pytest.mark.slow
def test_both_sides_run_the_seeds_and_the_ratio_is_theirs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {"STRESS_USERS": "inserter=1", "STRESS_DATABASES": "1"}.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    argv = ["bench", "sweep", "--seeds", "2", "--per-run", "0.5", "--rounds", "2", "--json"]
    assert main(argv, out=out) == 0
    figures = orjson.loads(out.getvalue())
    assert len(figures["sweep_runs_per_min"]) == len(figures["loop_runs_per_min"]) == 2
    for sweep, loop, ratio in zip(
        figures["sweep_runs_per_min"], figures["loop_runs_per_min"], figures["ratios"],
        strict=True,
    ):
        assert sweep > 0 and loop > 0
        assert ratio == pytest.approx(sweep / loop)

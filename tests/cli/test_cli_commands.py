"""The CLI: one-line errors naming the flag or variable, exit codes, the listing commands."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stress.cli.main import main
from stress.config import Settings, env_name, flag_name


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_a_bad_flag_is_one_line_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--duration", "-1"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("ConfigError: --duration=-1: ")


def test_a_bad_variable_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRESS_BATCH_MIN", "lots")
    assert main(["run"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("ConfigError: STRESS_BATCH_MIN=lots: ")


def test_a_misspelt_variable_suggests_the_right_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRESS_DURATON", "5")
    assert main(["run"]) == 2
    line = _one_error_line(capsys)
    assert "STRESS_DURATON" in line and "did you mean STRESS_DURATION" in line


def test_a_flag_beats_a_variable_and_is_the_one_blamed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRESS_THINK_MIN_MS", "50")
    assert main(["run", "--think-min-ms", "500", "--think-max-ms", "100"]) == 2
    line = _one_error_line(capsys)
    assert "--think-min-ms=500" in line and "--think-max-ms" in line


def test_no_users_names_the_three_variables_that_asked_for_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("STRESS_INSERTER_USERS", "STRESS_QUERY_USERS", "STRESS_MIXED_USERS"):
        monkeypatch.setenv(name, "0")
    assert main(["run", "--output-dir", str(tmp_path / "run")]) == 2
    line = _one_error_line(capsys)
    assert line == (
        "ConfigError: STRESS_INSERTER_USERS + STRESS_QUERY_USERS + STRESS_MIXED_USERS=0 users: "
        "a run needs at least one user (e.g. inserter=1)"
    )
    assert not (tmp_path / "run").exists()


def test_no_users_names_the_flags_and_variables_that_set_the_counts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRESS_QUERY_USERS", "0")
    assert main(["run", "--inserter-users", "0", "--mixed-users", "0"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(
        "ConfigError: --inserter-users + STRESS_QUERY_USERS + --mixed-users=0 users: "
    )
    monkeypatch.delenv("STRESS_QUERY_USERS")
    assert main(["run", "--users", "inserter=0"]) == 2
    assert _one_error_line(capsys).startswith("ConfigError: --users=0 users: ")


def test_an_unknown_class_names_the_setting_that_asked_for_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--users", "reader=2"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("ConfigError: --users=reader=2: ") and "'reader'" in line


def test_profiles_lists_every_profile() -> None:
    out = io.StringIO()
    assert main(["profiles"], out=out) == 0
    lines = out.getvalue().strip().splitlines()
    assert [line.split()[0] for line in lines] == ["inserter", "mixed", "query"]
    assert "(extends mixed)" in lines[0]


def test_profiles_show_prints_the_resolved_profile() -> None:
    out = io.StringIO()
    assert main(["profiles", "show", "mixed"], out=out) == 0
    text = out.getvalue()
    assert text.startswith("profile  mixed")
    assert "bulk_insert       0.3500      0.3500  (write)" in text
    assert "schema_ddl        0.0500      1.0000  (write)" in text
    assert "token_usage" in text


def test_profiles_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show"]) == 2
    assert "name a profile" in _one_error_line(capsys)
    assert main(["profiles", "show", "nobody"]) == 2
    assert _one_error_line(capsys).startswith("ProfileError: ")
    assert main(["profiles", "--profile-dir", str(tmp_path)]) == 2
    assert "holds no *.toml profile" in _one_error_line(capsys)


def test_settings_prints_the_markdown_table() -> None:
    out = io.StringIO()
    assert main(["settings"], out=out) == 0
    lines = out.getvalue().strip().splitlines()
    assert lines[:2] == ["| Variable | Flag | Default | Description |", "|---|---|---|---|"]
    assert len(lines) == 2 + len(Settings.model_fields)
    for line, field in zip(lines[2:], Settings.model_fields, strict=True):
        assert line.startswith(f"| `{env_name(field)}` | `{flag_name(field)}` |")


def test_replay_without_a_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay"]) == 2
    assert "STRESS_REPLAY_FILE" in _one_error_line(capsys)


def test_replay_of_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.json")]) == 2
    assert _one_error_line(capsys).startswith("ReplayFormatError: ")


def test_a_small_run_through_the_cli(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(
        [
            "run",
            "--users",
            "mixed=1",
            "--max-ops-per-user",
            "5",
            "--seed",
            "3",
            "--databases",
            "1",
            "--think-min-ms",
            "0",
            "--think-max-ms",
            "0",
            "--batch-min",
            "1",
            "--batch-max",
            "5",
            "--output-dir",
            str(tmp_path / "run"),
        ],
        out=out,
    )
    assert code == 0
    text = out.getvalue()
    assert "stress 0.1.0: seed 3; users mixed=1; 1 database(s); threads" in text
    assert f"replay this run: stress replay {tmp_path / 'run' / 'replay.json'}" in text
    assert (tmp_path / "run" / "summary.json").is_file()


def test_a_reader_that_goes_away_is_not_a_traceback() -> None:
    """``stress settings | head -1``: the pipe's reader is gone before the output is written."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from stress.cli.main import console_main; console_main()",
                "settings",
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0 and done.stderr == "", done.stderr

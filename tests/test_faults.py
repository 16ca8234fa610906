"""The STRESS_FAULTS spec: what parses, what does not, and what the rest of the settings allow."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stress.artifacts import ReplayFault
from stress.cli.main import main
from stress.config import load_settings, settings_from_dict
from stress.engine.faultplan import fault_plan
from stress.errors import ConfigError
from stress.faults import (
    FAULTS_GRAMMAR,
    FaultSpec,
    KillFault,
    LockFault,
    parse_duration,
    parse_faults,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("kill=every:2s", (KillFault(2.0),)),
        ("kill=every:500ms", (KillFault(0.5),)),
        ("kill=every:1.5m", (KillFault(90.0),)),
        ("lock=every:5s:hold:1s", (LockFault(5.0, 1.0),)),
        ("lock=every:5s:hold:1s:db:0", (LockFault(5.0, 1.0, 0),)),
        ("lock=every:5s:db:2:hold:250ms", (LockFault(5.0, 0.25, 2),)),
        (
            "kill=every:20s,lock=every:30s:hold:12s",
            (KillFault(20.0), LockFault(30.0, 12.0)),
        ),
        (" kill = every : 2s , lock=every:1m:hold:2s ", (KillFault(2.0), LockFault(60.0, 2.0))),
    ],
)
def test_valid_specs_parse(text: str, expected: tuple[FaultSpec, ...]) -> None:
    assert parse_faults(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("kill", "is not kill=... or lock=..."),
        ("stall=every:2s", "is not kill=... or lock=..."),
        ("kill=every:2", "is not a duration"),
        ("kill=every:2d", "is not a duration"),
        ("kill=every:-2s", "is not a duration"),
        ("kill=every:0s", "must be above 0"),
        ("kill=every", "expected key:value pairs"),
        ("kill=every:2s:hold:1s", "kill takes no 'hold'"),
        ("kill=every:2s:every:3s", "'every' appears twice"),
        ("lock=every:5s", "lock needs hold:DURATION"),
        ("lock=hold:1s", "lock needs every:DURATION"),
        ("lock=every:5s:hold:1s:db:x", "must name a database index"),
        ("kill=every:2s,", "is not kill=... or lock=..."),
    ],
)
def test_invalid_specs_name_the_variable_the_value_and_the_grammar(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_faults(text)
    error = caught.value
    assert (error.name, error.value) == ("STRESS_FAULTS", text)
    assert FAULTS_GRAMMAR in error.fix and problem in error.fix


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}
_durations = st.tuples(st.integers(1, 10_000), st.sampled_from(sorted(_UNITS)))


def _text(duration: tuple[int, str]) -> str:
    return f"{duration[0]}{duration[1]}"


def _seconds(duration: tuple[int, str]) -> float:
    return duration[0] * _UNITS[duration[1]]


_kills = _durations.map(lambda every: (f"kill=every:{_text(every)}", KillFault(_seconds(every))))
_locks = st.tuples(_durations, _durations, st.none() | st.integers(0, 9)).map(
    lambda parts: (
        f"lock=every:{_text(parts[0])}:hold:{_text(parts[1])}"
        + (f":db:{parts[2]}" if parts[2] is not None else ""),
        LockFault(_seconds(parts[0]), _seconds(parts[1]), parts[2]),
    )
)


@given(st.lists(_kills | _locks, min_size=1, max_size=5))
def test_any_well_formed_spec_parses_to_its_faults(
    faults: list[tuple[str, FaultSpec]],
) -> None:
    text = ",".join(part for part, _ in faults)
    assert parse_faults(text) == tuple(spec for _, spec in faults)


@given(st.text(alphabet="kilocedvryh=:,.0123456789msb ", max_size=40))
def test_any_text_parses_or_is_a_config_error(text: str) -> None:
    try:
        faults = parse_faults(text, "--faults")
    except ConfigError as error:
        assert error.name == "--faults" and FAULTS_GRAMMAR in error.fix
        return
    assert all(spec.every_s > 0 for spec in faults)


def test_durations_have_a_unit() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("2h") == 7200.0
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration("250")


def test_settings_reject_a_bad_spec_naming_the_variable_or_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^STRESS_FAULTS=kill=every:2: must be comma"):
        load_settings({"STRESS_FAULTS": "kill=every:2"})
    with pytest.raises(ConfigError, match=r"^--faults=lock=every:1s: .*lock needs hold"):
        load_settings({}, {"faults": "lock=every:1s"})
    assert load_settings({"STRESS_FAULTS": ""}).faults is None


def test_settings_keep_the_spec_parsed_and_write_back_the_text_as_given() -> None:
    text = " kill = every : 2s ,lock=every:1m:hold:12s"
    settings = load_settings({"STRESS_FAULTS": text, "STRESS_PROCESSES": "1"})
    assert settings.faults is not None
    assert settings.faults.specs == (KillFault(2.0), LockFault(60.0, 12.0))
    assert settings.model_dump()["faults"] == text
    assert settings.model_dump(mode="json")["faults"] == text
    rebuilt = settings_from_dict(settings.model_dump(mode="json"), "replay.json")
    assert rebuilt.faults == settings.faults
    assert fault_plan(settings) is settings.faults.specs  # checked, never parsed again


def test_a_fault_conflict_names_the_flags_that_set_the_values() -> None:
    settings = load_settings({}, {"faults": "lock=every:5s:hold:1s", "busy_timeout_ms": "1000"})
    with pytest.raises(ConfigError) as caught:
        fault_plan(settings)
    assert caught.value.name == "--faults"
    assert "does not outlast --busy-timeout-ms=1000" in caught.value.fix


def _plan_error(**config: object) -> ConfigError:
    settings = settings_from_dict(config)
    with pytest.raises(ConfigError) as caught:
        fault_plan(settings)
    assert caught.value.name == "STRESS_FAULTS"
    return caught.value


def test_a_kill_needs_worker_processes() -> None:
    error = _plan_error(faults="kill=every:2s", processes=0)
    assert "set STRESS_PROCESSES to 1 or more" in error.fix
    assert fault_plan(settings_from_dict({"faults": "kill=every:2s", "processes": 2}))


def test_a_lock_must_outlast_the_busy_timeout() -> None:
    error = _plan_error(faults="lock=every:5s:hold:1s", busy_timeout_ms=1000)
    assert "does not outlast STRESS_BUSY_TIMEOUT_MS=1000" in error.fix
    settings = settings_from_dict({"faults": "lock=every:5s:hold:1s", "busy_timeout_ms": 200})
    assert fault_plan(settings) == (LockFault(5.0, 1.0),)


def test_a_pinned_lock_must_name_a_database_of_the_run() -> None:
    error = _plan_error(faults="lock=every:5s:hold:1s:db:3", databases=3, busy_timeout_ms=200)
    assert "db:3 is not a database of this run" in error.fix


def test_a_lock_needs_the_sqlite_engine() -> None:
    error = _plan_error(faults="lock=every:5s:hold:1s", engine="turso", busy_timeout_ms=200)
    assert "STRESS_ENGINE=sqlite" in error.fix


def test_the_cli_exits_2_on_a_bad_spec_before_creating_the_run(tmp_path: Path) -> None:
    for flags in (["--faults", "kill=every:soon"], ["--faults", "kill=every:2s"]):
        err = io.StringIO()
        with redirect_stderr(err):
            code = main(["run", "--processes", "0", "--output-dir", str(tmp_path / "run"), *flags])
        assert code == 2
        assert err.getvalue().startswith("ConfigError: --faults=kill=every:"), err.getvalue()
    assert not (tmp_path / "run").exists()


def test_a_recorded_fault_names_its_target() -> None:
    with pytest.raises(ValueError, match="a kill names its worker_idx"):
        ReplayFault.model_validate({"kind": "kill", "t_s": 1.0, "points": {}})
    with pytest.raises(ValueError, match="a lock names its database_idx and hold_s"):
        ReplayFault.model_validate({"kind": "lock", "t_s": 1.0, "database_idx": 0, "points": {}})
    fault = ReplayFault.model_validate(
        {"kind": "kill", "t_s": 2.0, "worker_idx": 1, "points": {"0": 5, "3": 7}}
    )
    assert fault.points == {0: 5, 3: 7}

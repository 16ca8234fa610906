"""Settings: loading from variables and flags, error messages, pickling, the README table."""

from __future__ import annotations

import argparse
import os
import pickle
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stress.cli.settings_flags import add_arguments, overrides_from_namespace
from stress.config import (
    DEFAULT_PROFILE_DIR,
    Settings,
    env_name,
    flag_name,
    load_settings,
    settings_from_dict,
    settings_table_markdown,
)
from stress.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"

# Valid values of each numeric setting that has no partner constraint.
_FLOAT_ABOVE_ZERO = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False)
_VALID_NUMBERS: dict[str, st.SearchStrategy[float] | st.SearchStrategy[int]] = {
    "duration": _FLOAT_ABOVE_ZERO,
    "databases": st.integers(1, 10_000),
    "inserter_users": st.integers(0, 10_000),
    "query_users": st.integers(0, 10_000),
    "mixed_users": st.integers(0, 10_000),
    "seed": st.integers(0, 2**63 - 1),
    "max_memory_mb": _FLOAT_ABOVE_ZERO,
    "max_cpu_percent": _FLOAT_ABOVE_ZERO,
    "max_disk_mb": _FLOAT_ABOVE_ZERO,
    "log_interval": _FLOAT_ABOVE_ZERO,
    "query_complexity_max": st.integers(1, 5),
    "processes": st.integers(0, 1024),
    "busy_timeout_ms": st.integers(0, 10**9),
    "max_ops_per_user": st.integers(1, 10**12),
}
_PAIRS = {
    ("think_min_ms", "think_max_ms"): st.floats(0, 1e7, allow_nan=False),
    ("batch_min", "batch_max"): st.integers(1, 10**9),
}
_NUMERIC_FIELDS = sorted([*_VALID_NUMBERS, *(name for pair in _PAIRS for name in pair)])
_NOT_NUMBERS = st.text(alphabet=string.ascii_letters + " -+,", min_size=1, max_size=12).filter(
    str.strip
)


def _error(environ: dict[str, str], overrides: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, overrides)
    return str(caught.value)


def test_defaults_are_the_ancestors() -> None:
    settings = load_settings({})
    assert (settings.duration, settings.databases) == (300, 3)
    assert settings.user_counts() == {"inserter": 4, "query": 3, "mixed": 2}
    assert (settings.max_memory_mb, settings.max_disk_mb) == (4096, 2048)
    # The ancestor's 90% CPU was of the whole machine; ours counts 100 per core, so the
    # default budget is 90 per core.
    assert settings.max_cpu_percent is None
    assert settings.cpu_budget_percent() == 90 * (os.cpu_count() or 1)
    assert load_settings({"STRESS_MAX_CPU_PERCENT": "150"}).cpu_budget_percent() == 150
    assert (settings.think_min_ms, settings.think_max_ms) == (10, 200)
    assert (settings.batch_min, settings.batch_max) == (100, 10000)
    assert (settings.log_interval, settings.query_complexity_max) == (5, 3)
    assert settings.seed is None and settings.output_dir is None and settings.replay_file is None
    assert (settings.engine, settings.connection, settings.id_allocation) == (
        "sqlite",
        "per-op",
        "row",
    )
    assert settings.profile_dir == Path(__file__).resolve().parent.parent / "profiles"
    assert settings.profile_dir == DEFAULT_PROFILE_DIR


@given(field=st.sampled_from(sorted(_VALID_NUMBERS)), data=st.data())
def test_valid_number_from_environment_is_kept(field: str, data: st.DataObject) -> None:
    value = data.draw(_VALID_NUMBERS[field])
    settings = load_settings({env_name(field): repr(value)})
    assert getattr(settings, field) == value
    assert settings.source_of(field) == env_name(field)


@given(pair=st.sampled_from(sorted(_PAIRS)), data=st.data())
def test_valid_ordered_pair_is_kept(pair: tuple[str, str], data: st.DataObject) -> None:
    low, high = sorted(data.draw(st.lists(_PAIRS[pair], min_size=2, max_size=2)))
    settings = load_settings({env_name(pair[0]): repr(low), env_name(pair[1]): repr(high)})
    assert (getattr(settings, pair[0]), getattr(settings, pair[1])) == (low, high)


@given(value=st.floats(max_value=0, allow_nan=False, allow_infinity=False))
def test_duration_not_above_zero_is_an_error(value: float) -> None:
    message = _error({"STRESS_DURATION": repr(value)})
    assert message.startswith(f"STRESS_DURATION={value!r}: ")
    assert "above 0" in message


@given(pair=st.sampled_from(sorted(_PAIRS)), data=st.data())
def test_min_above_max_names_both_ends(pair: tuple[str, str], data: st.DataObject) -> None:
    values = data.draw(st.lists(_PAIRS[pair], min_size=2, max_size=2, unique=True))
    high, low = sorted(values)[0], sorted(values)[1]
    message = _error({env_name(pair[0]): repr(low), env_name(pair[1]): repr(high)})
    assert message.startswith(f"{env_name(pair[0])}={low!r}: must be at most")
    assert f"{env_name(pair[1])} ({high!r})" in message


@given(field=st.sampled_from(_NUMERIC_FIELDS), value=_NOT_NUMBERS)
def test_non_number_names_variable_and_value(field: str, value: str) -> None:
    message = _error({env_name(field): value})
    assert message.startswith(f"{env_name(field)}={value}: must be")


@given(field=st.sampled_from(_NUMERIC_FIELDS), value=_NOT_NUMBERS)
def test_non_number_from_flag_names_the_flag(field: str, value: str) -> None:
    message = _error({}, {field: value})
    assert message.startswith(f"{flag_name(field)}={value}: must be")


@given(value=st.text(min_size=1, max_size=12).filter(lambda v: v not in ("sqlite", "turso")))
def test_unknown_engine_lists_the_valid_ones(value: str) -> None:
    for message in (_error({"STRESS_ENGINE": value}), _error({}, {"engine": value})):
        assert value in message
        assert "sqlite" in message and "turso" in message
    assert _error({}, {"engine": value}).startswith("--engine=")


def test_error_messages_match_the_documented_form() -> None:
    assert _error({"STRESS_DURATION": "-5"}) == (
        "STRESS_DURATION=-5: must be a duration above 0: a number of seconds or a number "
        "with ms, s, m or h (e.g. 30, 90s, 30m, 2h)"
    )
    assert _error({"STRESS_THINK_MIN_MS": "300"}) == (
        "STRESS_THINK_MIN_MS=300: must be at most STRESS_THINK_MAX_MS (200)"
    )


def test_a_lone_max_below_the_default_min_is_blamed() -> None:
    message = _error({"STRESS_THINK_MAX_MS": "5"})
    assert message == "STRESS_THINK_MAX_MS=5: must be at least STRESS_THINK_MIN_MS (10)"


def test_order_error_names_the_flag_that_set_the_other_end() -> None:
    # Both ends set: the minimum is blamed, and the message names where the maximum came from.
    message = _error({"STRESS_BATCH_MIN": "50"}, {"batch_max": "20"})
    assert message == "STRESS_BATCH_MIN=50: must be at most --batch-max (20)"
    message = _error({}, {"batch_max": "20"})
    assert message == "--batch-max=20: must be at least STRESS_BATCH_MIN (100)"


@given(env_value=st.integers(1, 1000), flag_value=st.integers(1, 1000))
def test_flag_beats_variable(env_value: int, flag_value: int) -> None:
    settings = load_settings({"STRESS_DATABASES": str(env_value)}, {"databases": str(flag_value)})
    assert settings.databases == flag_value
    assert settings.source_of("databases") == "--databases"


def test_flag_fixes_a_bad_variable() -> None:
    assert load_settings({"STRESS_DURATION": "-1"}, {"duration": "7"}).duration == 7


def test_environment_is_read_only_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRESS_DURATION", "12")
    assert load_settings().duration == 12
    assert load_settings({}).duration == 300


def test_unknown_variable_is_an_error_with_near_matches() -> None:
    message = _error({"STRESS_DURATOIN": "30"})
    assert message.startswith("STRESS_DURATOIN=30: not a stress setting")
    assert "did you mean STRESS_DURATION?" in message


def test_unknown_variable_without_near_match_lists_all() -> None:
    message = _error({"STRESS_XYZZY": "1"})
    assert "STRESS_XYZZY" in message
    assert all(env_name(field) in message for field in Settings.model_fields)


def test_variables_without_the_prefix_are_ignored() -> None:
    assert load_settings({"HOME": "/root", "STRESSED": "yes"}).duration == 300


def test_unknown_override_names_the_flag() -> None:
    assert "did you mean --duration?" in _error({}, {"duratoin": "5"})


def test_users_string_is_parsed_in_order_without_zero_counts() -> None:
    settings = load_settings({"STRESS_USERS": " query = 2 ,inserter=0, soak=5"})
    assert settings.users == {"query": 2, "inserter": 0, "soak": 5}
    assert list(settings.user_counts().items()) == [("query", 2), ("soak", 5)]
    assert settings.source_of("users") == "STRESS_USERS"


def test_per_class_counts_drop_zero_classes() -> None:
    settings = load_settings({"STRESS_QUERY_USERS": "0"})
    assert list(settings.user_counts()) == ["inserter", "mixed"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("inserter", "not a class=count pair"),
        ("=3", "not a class=count pair"),
        ("a=1,a=2", "appears twice"),
        ("a=-1", "the count of 'a'"),
        ("a=x", "the count of 'a'"),
        ("a=1,", "not a class=count pair"),
    ],
)
def test_bad_users_string_says_why(text: str, problem: str) -> None:
    message = _error({"STRESS_USERS": text})
    assert message.startswith(f"STRESS_USERS={text}: must be class=count pairs")
    assert problem in message


@pytest.mark.parametrize("field", ["inserter_users", "query_users", "mixed_users"])
def test_users_with_a_per_class_count_is_ambiguous(field: str) -> None:
    message = _error({"STRESS_USERS": "a=1", env_name(field): "2"})
    assert message.startswith("STRESS_USERS=a=1: cannot be combined with")
    assert env_name(field) in message
    assert flag_name(field) in _error({"STRESS_USERS": "a=1"}, {field: "2"})


def test_empty_optional_value_means_unset() -> None:
    settings = load_settings({"STRESS_SEED": "", "STRESS_OUTPUT_DIR": " "})
    assert settings.seed is None and settings.output_dir is None


@pytest.mark.parametrize("seed", ["-1", str(2**63), "1.5"])
def test_seed_out_of_range_is_an_error(seed: str) -> None:
    assert _error({"STRESS_SEED": seed}).startswith(f"STRESS_SEED={seed}: must be a whole number")


def test_infinite_duration_is_an_error() -> None:
    assert _error({"STRESS_DURATION": "inf"}).startswith("STRESS_DURATION=inf:")


def test_source_of_reports_default_and_rejects_unknown_fields() -> None:
    settings = load_settings({"STRESS_SEED": "5"}, {"duration": "9"})
    assert settings.source_of("seed") == "STRESS_SEED"
    assert settings.source_of("duration") == "--duration"
    assert settings.source_of("databases") == "default"
    with pytest.raises(KeyError):
        settings.source_of("nope")


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValueError, match="frozen"):
        settings.duration = 1  # type: ignore[misc]


def test_settings_pickle_with_their_sources() -> None:
    settings = load_settings({"STRESS_SEED": "42", "STRESS_USERS": "a=1"}, {"duration": "3"})
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings
    assert copy.source_of("seed") == "STRESS_SEED"
    assert copy.source_of("duration") == "--duration"


def test_json_dump_round_trips_without_reading_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings({"STRESS_SEED": "7", "STRESS_USERS": "q=2", "STRESS_OUTPUT_DIR": "/x"})
    dumped = settings.model_dump(mode="json")
    monkeypatch.setenv("STRESS_DURATION", "11")
    monkeypatch.setenv("STRESS_SEED", "8")
    rebuilt = settings_from_dict(dumped)
    assert rebuilt.model_dump(mode="json") == dumped
    assert Settings.model_validate(dumped).model_dump(mode="json") == dumped
    assert settings_from_dict({}).duration == 300


def test_settings_from_dict_names_its_origin() -> None:
    settings = settings_from_dict({"duration": 4}, origin="replay.json")
    assert settings.source_of("duration") == "replay.json:duration"
    with pytest.raises(ConfigError, match=r"^replay.json:duration=-4: must be"):
        settings_from_dict({"duration": -4}, origin="replay.json")
    with pytest.raises(ConfigError, match="did you mean duration"):
        settings_from_dict({"durtion": 4})


def test_config_error_pickles() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"STRESS_DURATION": "x"})
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.name, copy.value, str(copy)) == ("STRESS_DURATION", "x", str(caught.value))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stress")
    add_arguments(parser)
    return parser


def test_flags_become_string_overrides() -> None:
    namespace = _parser().parse_args(["--duration", "30", "--think-min-ms", "5"])
    overrides = overrides_from_namespace(namespace)
    assert overrides == {"duration": "30", "think_min_ms": "5"}
    assert load_settings({}, overrides).source_of("think_min_ms") == "--think-min-ms"


def test_every_field_has_a_flag_whose_help_names_the_variable() -> None:
    help_text = " ".join(_parser().format_help().split())
    for field in Settings.model_fields:
        assert flag_name(field) in help_text
        assert env_name(field) in help_text


def test_every_field_description_gives_a_unit_or_meaning() -> None:
    for field, info in Settings.model_fields.items():
        assert info.description, field
        assert "(" in info.description or "in " in info.description, field


def test_table_has_one_row_per_field() -> None:
    lines = settings_table_markdown().splitlines()
    assert lines[0] == "| Variable | Flag | Default | Description |"
    assert len(lines) == 2 + len(Settings.model_fields)
    assert lines[2].startswith("| `STRESS_DURATION` | `--duration` | `300` |")
    # The table must not depend on where the repository is checked out.
    assert str(DEFAULT_PROFILE_DIR) not in settings_table_markdown()


def test_readme_table_is_the_generated_one() -> None:
    if not README.exists():
        pytest.skip("README.md not written yet; the lead adds it with the settings table")
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- settings-table:start -->\n", "<!-- settings-table:end -->"
    assert start in text and end in text, "README.md lacks the settings-table markers"
    between = text.split(start, 1)[1].split(end, 1)[0]
    assert between.strip() == settings_table_markdown().strip(), (
        "README.md's settings table is stale: paste `stress settings` between the markers"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("45", 45.0), ("2.5", 2.5), ("500ms", 0.5)],
)
def test_duration_takes_plain_seconds_or_a_unit(text: str, seconds: float) -> None:
    assert load_settings({"STRESS_DURATION": text}).duration == seconds
    assert load_settings({}, {"duration": text}).duration == seconds


@pytest.mark.parametrize("text", ["10x", "2 hours", "0s", "-3m", "h", "1e400"])
def test_a_bad_duration_is_one_line_naming_the_units(text: str) -> None:
    message = _error({}, {"duration": text})
    assert message.startswith(f"--duration={text}: must be a duration above 0")
    assert "90s, 30m, 2h" in message
    assert "\n" not in message

"""The monitor's settings: defaults, units in the help, and errors that name the fix."""

from __future__ import annotations

import pytest

from stress.config import Settings, load_settings
from stress.errors import ConfigError


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.monitor_interval_ms == 250
    assert settings.max_wal_mb == 512
    assert settings.max_stall_s == 60
    assert settings.on_crash == "stop"
    assert settings.target_ops_per_sec is None
    assert settings.latency_limit_ms is None


def test_values_from_variables_and_flags() -> None:
    settings = load_settings(
        {"STRESS_ON_CRASH": "restart", "STRESS_TARGET_OPS_PER_SEC": "500"},
        {"latency_limit_ms": "100", "max_wal_mb": "64"},
    )
    assert (settings.on_crash, settings.target_ops_per_sec) == ("restart", 500)
    assert (settings.latency_limit_ms, settings.max_wal_mb) == (100, 64)


def test_empty_rate_and_limit_mean_unset() -> None:
    settings = load_settings({"STRESS_TARGET_OPS_PER_SEC": "", "STRESS_LATENCY_LIMIT_MS": " "})
    assert settings.target_ops_per_sec is None and settings.latency_limit_ms is None


@pytest.mark.parametrize(
    ("variable", "value", "fix"),
    [
        ("STRESS_MONITOR_INTERVAL_MS", "5", "at least 10"),
        ("STRESS_MAX_WAL_MB", "0", "above 0"),
        ("STRESS_MAX_STALL_S", "-1", "above 0"),
        ("STRESS_ON_CRASH", "retry", "one of: stop, restart"),
        ("STRESS_TARGET_OPS_PER_SEC", "0", "or empty for a closed loop"),
        ("STRESS_LATENCY_LIMIT_MS", "fast", "or empty for no limit"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_fix(variable: str, value: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert str(caught.value).startswith(f"{variable}={value}: must be")
    assert fix in str(caught.value)


def test_the_cpu_budget_says_its_unit() -> None:
    description = Settings.model_fields["max_cpu_percent"].description or ""
    assert "100 = one core" in description

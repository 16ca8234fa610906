"""Checking benchmark flags: every bad value is one ConfigError naming the flag and the fix."""

from __future__ import annotations

from stress.errors import ConfigError

__all__ = ["number_flag", "whole_flag"]


def whole_flag(flag: str, text: str, minimum: int) -> int:
    """``text`` as a whole number of at least ``minimum``."""
    if not text.strip().isdigit() or int(text) < minimum:
        raise ConfigError(flag, text, f"must be a whole number, at least {minimum}")
    return int(text)


def number_flag(flag: str, text: str, minimum: float) -> float:
    """``text`` as a number of at least ``minimum``."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(flag, text, f"must be a number, at least {minimum:g}") from None
    if value < minimum or value != value:  # NaN compares unequal to itself
        raise ConfigError(flag, text, f"must be a number, at least {minimum:g}")
    return value

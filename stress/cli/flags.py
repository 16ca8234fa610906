"""Checking command flags: every bad value is one ConfigError naming the flag and the fix.

Flags are read as text and checked here, rather than with argparse's ``type=``, so a bad value
ends like every other bad input (one line, exit 2) and not in argparse's usage dump.
"""

from __future__ import annotations

from typing import TypeVar

from stress.errors import ConfigError

__all__ = ["choices_flag", "counts_flag", "number_flag", "whole_flag"]

_Choice = TypeVar("_Choice", bound=str)


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


def counts_flag(flag: str, text: str, example: str) -> tuple[int, ...]:
    """``text`` as a comma list of whole numbers of at least 1, in order, repeats dropped."""
    counts: list[int] = []
    for part in (part.strip() for part in text.split(",")):
        if not part.isdigit() or int(part) < 1:
            raise ConfigError(flag, text, f"give a comma list of integers >= 1, e.g. {example}")
        if int(part) not in counts:
            counts.append(int(part))
    return tuple(counts)


def choices_flag(flag: str, text: str, valid: tuple[_Choice, ...]) -> tuple[_Choice, ...]:
    """``text`` as a comma list of names from ``valid``, in order, repeats dropped."""
    chosen: list[_Choice] = []
    for part in (part.strip() for part in text.split(",")):
        match = next((choice for choice in valid if choice == part), None)
        if match is None:
            raise ConfigError(flag, text, f"give a comma list of {', '.join(valid)}")
        if match not in chosen:
            chosen.append(match)
    return tuple(chosen)

"""Which seeds a sweep runs: ``--seeds N`` or ``--seed-range A:B``.

A range is half-open, as Python's: ``--seed-range 100:200`` runs seeds 100 to 199, and
``--seeds 1000`` is ``--seed-range 0:1000``. Seeds are the settings' (0 to 2**63 - 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from stress.errors import ConfigError

__all__ = ["MAX_SEED", "SeedRange", "parse_seed_count", "parse_seed_range"]

#: One past the largest seed a run takes (Settings.seed < 2**63).
MAX_SEED = 2**63


@dataclass(frozen=True)
class SeedRange:
    """Seeds ``start`` to ``stop - 1``."""

    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start

    def seeds(self) -> range:
        return range(self.start, self.stop)

    @property
    def text(self) -> str:
        return f"{self.start}:{self.stop}"


def parse_seed_count(flag: str, text: str) -> SeedRange:
    """``--seeds N``: seeds 0 to N - 1."""
    word = text.strip()
    if not word.isdigit() or not 1 <= int(word) <= MAX_SEED:
        raise ConfigError(flag, text, "must be a whole number of seeds, at least 1 (e.g. 1000)")
    return SeedRange(0, int(word))


def parse_seed_range(flag: str, text: str) -> SeedRange:
    """``--seed-range A:B``: seeds A to B - 1 (B above A)."""
    start, sep, stop = (part.strip() for part in text.partition(":"))
    fix = "must be A:B, whole numbers with A below B, for seeds A to B - 1 (e.g. 1000:2000)"
    if not sep or not start.isdigit() or not stop.isdigit():
        raise ConfigError(flag, text, fix)
    if not int(start) < int(stop) <= MAX_SEED:
        raise ConfigError(flag, text, fix)
    return SeedRange(int(start), int(stop))

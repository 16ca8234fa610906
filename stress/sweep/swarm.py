"""Swarm mode: each seed draws its own configuration within bounds read from a TOML file.

As TigerBeetle's swarm testing does, a sweep need not run one configuration: every seed also
draws users per class, worker processes or threads, connection and id strategies, batch
sizes, the rate mode and the faults from a stream of its own,
``SeedSequence(seed, spawn_key=(SWARM_KEY,))``, apart from every stream of the run itself. The
draw is a pure function of the seed and the bounds; it returns ``STRESS_*`` variables, which
the run gets in its environment, so the drawn configuration is in that run's ``replay.json``
(its ``config``) like any setting, and the run replays alone.

Every value is drawn, in a fixed order, whether or not it is used (a closed-loop run still
draws a rate), so one coin never shifts the draws after it. The bounds file is
``stress/sweep/swarm.toml`` unless ``--swarm FILE`` names another (see that file).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stress.metadb import CONNECTION_MODES, ID_STRATEGIES
from stress.sweep.errors import SwarmBoundsError

__all__ = [
    "DEFAULT_BOUNDS",
    "SWARM_KEY",
    "USER_VARIABLES",
    "SwarmBounds",
    "load_bounds",
    "swarm_draw",
]

#: The built-in bounds.
DEFAULT_BOUNDS = Path(__file__).resolve().parent / "swarm.toml"
#: The swarm's spawn key: apart from the users' (0, 1, ...) and the other families' keys.
SWARM_KEY = 0x5A

_STRICT = ConfigDict(extra="forbid", frozen=True)
_Probability = Annotated[float, Field(ge=0, le=1)]
#: The variables that set user counts; a drawn STRESS_USERS replaces all of them.
USER_VARIABLES = (
    "STRESS_USERS",
    "STRESS_INSERTER_USERS",
    "STRESS_QUERY_USERS",
    "STRESS_MIXED_USERS",
)


def _check_pair(low: float, high: float, name: str) -> None:
    if low > high:
        raise ValueError(f"{name}: the lowest value {low:g} is above the highest {high:g}")


class _Choices(BaseModel):
    model_config = _STRICT

    processes: list[Annotated[int, Field(ge=0)]] | None = Field(None, min_length=1)
    connection: list[str] | None = Field(None, min_length=1)
    id_allocation: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _known(self) -> _Choices:
        for name, valid in (("connection", CONNECTION_MODES), ("id_allocation", ID_STRATEGIES)):
            for value in getattr(self, name) or ():
                if value not in valid:
                    raise ValueError(f"{name}: {value!r} is not one of {', '.join(valid)}")
        return self


class _Batch(BaseModel):
    model_config = _STRICT

    min: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]
    max: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]

    @model_validator(mode="after")
    def _ordered(self) -> _Batch:
        _check_pair(*self.min, "min")
        _check_pair(*self.max, "max")
        return self


class _Rate(BaseModel):
    model_config = _STRICT

    open_loop: _Probability
    ops_per_sec: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]

    @model_validator(mode="after")
    def _ordered(self) -> _Rate:
        _check_pair(*self.ops_per_sec, "ops_per_sec")
        return self


_Seconds = tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]


class _Faults(BaseModel):
    model_config = _STRICT

    kill: _Probability = 0.0
    kill_every_s: _Seconds = (1.0, 5.0)
    lock: _Probability = 0.0
    lock_every_s: _Seconds = (1.0, 5.0)
    lock_hold_s: _Seconds = (0.5, 3.0)

    @model_validator(mode="after")
    def _ordered(self) -> _Faults:
        for name in ("kill_every_s", "lock_every_s", "lock_hold_s"):
            low, high = getattr(self, name)
            _check_pair(low, high, name)
        return self


class SwarmBounds(BaseModel):
    """The bounds file, checked: every section optional (left out = not drawn)."""

    model_config = _STRICT

    users: dict[str, tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]] | None = (
        None
    )
    choices: _Choices | None = None
    batch: _Batch | None = None
    rate: _Rate | None = None
    faults: _Faults | None = None

    @field_validator("users")
    @classmethod
    def _some_user(cls, users: dict[str, tuple[int, int]] | None) -> Any:
        for name, (low, high) in (users or {}).items():
            _check_pair(low, high, name)
        if users is not None and not any(high > 0 for _, high in users.values()):
            raise ValueError("every class has at most 0 users; let one have at least 1")
        return users


def load_bounds(path: Path) -> SwarmBounds:
    """Read and check a bounds file; :class:`SwarmBoundsError` names the key and the fix."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SwarmBoundsError(str(path), "<file>", f"cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise SwarmBoundsError(str(path), "<file>", f"not TOML ({error})") from None
    try:
        return SwarmBounds.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<file>"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SwarmBoundsError(str(path), where, message) from None


def swarm_draw(seed: int, bounds: SwarmBounds) -> dict[str, str]:
    """The ``STRESS_*`` variables seed ``seed`` draws within ``bounds`` (a pure function)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SWARM_KEY,)))
    drawn: dict[str, str] = {}
    if bounds.users is not None:
        drawn["STRESS_USERS"] = _draw_users(rng, bounds.users)
    processes = _draw_choices(rng, bounds.choices, drawn)
    if bounds.batch is not None:
        low = int(rng.integers(bounds.batch.min[0], bounds.batch.min[1] + 1))
        high = int(rng.integers(bounds.batch.max[0], bounds.batch.max[1] + 1))
        drawn["STRESS_BATCH_MIN"], drawn["STRESS_BATCH_MAX"] = str(low), str(max(low, high))
    if bounds.rate is not None:
        open_loop = bool(rng.random() < bounds.rate.open_loop)
        rate = round(float(rng.uniform(*bounds.rate.ops_per_sec)), 1)
        drawn["STRESS_TARGET_OPS_PER_SEC"] = f"{rate:g}" if open_loop else ""
    if bounds.faults is not None:
        drawn.update(_draw_faults(rng, bounds.faults, processes))
    return drawn


def _draw_users(rng: np.random.Generator, users: dict[str, tuple[int, int]]) -> str:
    counts = {name: int(rng.integers(low, high + 1)) for name, (low, high) in users.items()}
    if not any(counts.values()):
        # A run needs a user: the first class that may have one gets it (no extra draw).
        first = next(name for name, (_, high) in users.items() if high > 0)
        counts[first] = 1
    return ",".join(f"{name}={count}" for name, count in counts.items())


def _draw_choices(
    rng: np.random.Generator, choices: _Choices | None, drawn: dict[str, str]
) -> int | None:
    """Draw the strategy choices into ``drawn``; returns the processes drawn (None: not)."""
    if choices is None:
        return None
    processes: int | None = None
    for name in ("processes", "connection", "id_allocation"):
        options: list[Any] | None = getattr(choices, name)
        if options is not None:
            value = options[int(rng.integers(len(options)))]
            drawn[f"STRESS_{name.upper()}"] = str(value)
            if name == "processes":
                processes = int(value)
    return processes


def _draw_faults(
    rng: np.random.Generator, faults: _Faults, processes: int | None
) -> dict[str, str]:
    kill = bool(rng.random() < faults.kill)
    kill_every = _draw_ms(rng, faults.kill_every_s)
    lock = bool(rng.random() < faults.lock)
    lock_every = _draw_ms(rng, faults.lock_every_s)
    hold = _draw_ms(rng, faults.lock_hold_s)
    drawn: dict[str, str] = {}
    specs: list[str] = []
    # A kill needs worker processes; with threads (or processes not drawn) it is left out.
    if kill and processes:
        specs.append(f"kill=every:{kill_every}ms")
        # A killed worker is a fault injected, not a finding: the run restarts it.
        drawn["STRESS_ON_CRASH"] = "restart"
    if lock:
        specs.append(f"lock=every:{lock_every}ms:hold:{hold}ms")
        # The lock must outlast the busy timeout, or writers wait it out and never spool.
        drawn["STRESS_BUSY_TIMEOUT_MS"] = str(hold // 2)
    drawn["STRESS_FAULTS"] = ",".join(specs)
    return drawn


def _draw_ms(rng: np.random.Generator, seconds: tuple[float, float]) -> int:
    low, high = round(seconds[0] * 1000), round(seconds[1] * 1000)
    return int(rng.integers(low, high + 1))

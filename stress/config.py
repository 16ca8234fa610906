"""The simulator's settings: one frozen model, filled from ``STRESS_*`` variables and flags.

:func:`load_settings` is the only way in from the outside world. It reads the environment
mapping it is given (``os.environ`` by default, and only when called), lets command-line flags
beat variables field by field, and turns every invalid value into a :class:`ConfigError` that
names the variable or flag, the value and what would be valid. Nothing falls back to a default
silently, and an unknown ``STRESS_*`` variable is an error, because a typo must not be ignored.

pydantic-settings supplies the model's shape, but its own environment source is switched off
(see :meth:`Settings.settings_customise_sources`): a model rebuilt from a replay file must never
pick up the caller's environment, and tests pass a plain dict instead of patching ``os.environ``.

An empty value for an optional setting (``STRESS_SEED=``) means "unset", as in most shells.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    Field,
    InstanceOf,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stress.errors import ConfigError
from stress.faults import FAULTS_GRAMMAR, Faults, parse_duration
from stress.metadb import (
    CONNECTION_MODES,
    ENGINES,
    ID_STRATEGIES,
    ConnectionMode,
    EngineName,
    IdStrategy,
)
from stress.mutants import mutant_grammar, parse_mutant

__all__ = [
    "DEFAULT_PROFILE_DIR",
    "ENV_PREFIX",
    "OnCrash",
    "Settings",
    "env_name",
    "flag_help",
    "flag_name",
    "load_settings",
    "settings_from_dict",
    "settings_table_markdown",
]

#: What a worker process's death does to the run (STRESS_ON_CRASH).
OnCrash = Literal["stop", "restart"]

#: Prefix of every variable the simulator reads.
ENV_PREFIX = "STRESS_"


def _builtin_profile_dir() -> Path:
    """The built-in profiles: ``stress/profiles/`` of an installed wheel, else the checkout's.

    ``profiles/`` at the top of the repository is the one source; the wheel ships a copy as
    package data (``sources`` in pyproject.toml). An editable install imports the
    package from the checkout, where that copy does not exist, so the repository's folder is
    used. Wheels are installed unpacked, so the resource is a real folder on disk.
    """
    shipped = Path(str(resources.files("stress").joinpath("profiles")))
    checkout = Path(__file__).resolve().parent.parent / "profiles"
    if shipped.is_dir() or not checkout.is_dir():
        return shipped
    return checkout


#: The built-in user-class profiles (inserter, query, mixed); see :func:`_builtin_profile_dir`.
DEFAULT_PROFILE_DIR = _builtin_profile_dir()

# Error types of our own validators; _translate() turns them into ConfigError messages.
_INVALID = "stress_invalid"
_ORDER = "stress_order"

_CLASS_FIELDS = ("inserter_users", "query_users", "mixed_users")
_CLASS_NAMES = ("inserter", "query", "mixed")
_OPTIONAL_FIELDS = (
    "users",
    "seed",
    "output_dir",
    "replay_file",
    "max_ops_per_user",
    "target_ops_per_sec",
    "latency_limit_ms",
    "faults",
    "mutant",
)
_DURATION_FIX = (
    "must be a duration above 0: a number of seconds or a number with ms, s, m or h "
    "(e.g. 30, 90s, 30m, 2h)"
)
_PLAIN_NUMBER = re.compile(r"\s*[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?\s*")
_ORDERED_PAIRS = (("think_min_ms", "think_max_ms"), ("batch_min", "batch_max"))
_USERS_FIX = (
    "must be class=count pairs separated by commas, each class once, counts 0 or more "
    "(e.g. inserter=4,query=3,mixed=2)"
)


def _rule(fix: str, shown_default: str | None = None) -> JsonDict:
    """Field metadata: the fix quoted in errors, and the default as the README shows it."""
    rule: JsonDict = {"fix": fix}
    if shown_default is not None:
        rule["shown_default"] = shown_default
    return rule


def _fault_text(faults: Faults) -> str:
    return faults.text


# Parsed once, by Settings._parse_faults; written back as the text it was given, so summary.json
# and replay.json record STRESS_FAULTS exactly as before.
_FaultsField = Annotated[
    InstanceOf[Faults],
    PlainSerializer(_fault_text, return_type=str),
    WithJsonSchema({"type": "string"}),
]


def _one_of(names: tuple[str, ...]) -> str:
    return f"must be one of: {', '.join(names)}"


def _users_rule(name: str, default: int) -> JsonDict:
    return _rule(f"must be a whole number of {name} users, 0 or more (e.g. {default})")


class Settings(BaseSettings):
    """Every knob of a run. Frozen: workers receive a pickled copy and must not diverge."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", allow_inf_nan=False
    )

    duration: float = Field(
        300.0,
        gt=0,
        description=(
            "Length of the run: seconds (a plain number) or a number with ms, s, m or h "
            "(`90s`, `30m`, `2h`)."
        ),
        json_schema_extra=_rule(_DURATION_FIX),
    )
    databases: int = Field(
        3,
        ge=1,
        description="Database files the users are spread over (count); user i uses file i mod N.",
        json_schema_extra=_rule("must be a whole number of databases, at least 1 (e.g. 3)"),
    )
    inserter_users: int = Field(
        4,
        ge=0,
        description="Users of the `inserter` profile (count). Use these three or STRESS_USERS.",
        json_schema_extra=_users_rule("inserter", 4),
    )
    query_users: int = Field(
        3,
        ge=0,
        description="Users of the `query` profile (count).",
        json_schema_extra=_users_rule("query", 3),
    )
    mixed_users: int = Field(
        2,
        ge=0,
        description="Users of the `mixed` profile (count).",
        json_schema_extra=_users_rule("mixed", 2),
    )
    users: dict[Annotated[str, Field(min_length=1)], Annotated[int, Field(ge=0)]] | None = Field(
        None,
        description=(
            "Users per profile as `class=count` pairs, e.g. `inserter=4,query=3,mixed=2` "
            "(counts, in this order); replaces the three per-class counts."
        ),
        json_schema_extra=_rule(_USERS_FIX, "unset (the per-class counts)"),
    )
    seed: int | None = Field(
        None,
        ge=0,
        lt=2**63,
        description="Global seed of the run (integer); unset = random, chosen and printed.",
        json_schema_extra=_rule(
            "must be a whole number from 0 to 2**63 - 1 (e.g. 42), or empty for a random seed",
            "random",
        ),
    )
    max_memory_mb: float = Field(
        4096.0,
        gt=0,
        description=(
            "Memory budget, in MB of resident memory summed over the coordinator and every "
            "worker; above it users back off."
        ),
        json_schema_extra=_rule("must be a number of megabytes above 0 (e.g. 4096)"),
    )
    max_cpu_percent: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU budget of the run's process tree, in percent of one core (100 = one core, "
            "so 4 busy cores read 400); above it users back off. Unset = the ancestor's 90% "
            "of every core of the machine (180 on 2 cores)."
        ),
        json_schema_extra=_rule(
            "must be a percentage above 0, where 100 is one core (e.g. 180), or empty for 90 "
            "per core",
            "90 x cores",
        ),
    )
    max_disk_mb: float = Field(
        2048.0,
        gt=0,
        description="Disk budget of the databases, in MB; once spent, writes become selects.",
        json_schema_extra=_rule("must be a number of megabytes above 0 (e.g. 2048)"),
    )
    max_wal_mb: float = Field(
        512.0,
        gt=0,
        description=(
            "WAL budget of each database, in MB (size of its `-wal` file); above it users back "
            "off, since a WAL that outruns its checkpoints is a meta.db failure mode."
        ),
        json_schema_extra=_rule("must be a number of megabytes above 0 (e.g. 512)"),
    )
    max_no_progress_s: float = Field(
        30.0,
        gt=0,
        description=(
            "Longest time, in seconds, in which no user completes an operation while no "
            "backpressure pauses them; longer stops the run with `Stalled` (a finding)."
        ),
        json_schema_extra=_rule("must be a number of seconds above 0 (e.g. 30)"),
    )
    max_stall_s: float = Field(
        60.0,
        gt=0,
        description=(
            "Longest backpressure pause, in seconds; a pause held longer stops the run "
            "with `ResourceLimit`."
        ),
        json_schema_extra=_rule("must be a number of seconds above 0 (e.g. 60)"),
    )
    monitor_interval_ms: float = Field(
        250.0,
        ge=10,
        description="Time between two resource samples of the monitor, in ms.",
        json_schema_extra=_rule("must be a number of milliseconds, at least 10 (e.g. 250)"),
    )
    on_crash: OnCrash = Field(
        "stop",
        description=(
            "What happens when a worker process dies (name): `stop` = the run ends with "
            "`CrashDetected`; `restart` = the worker starts again and its users resume their "
            "streams at their next op."
        ),
        json_schema_extra=_rule(_one_of(get_args(OnCrash))),
    )
    faults: _FaultsField | None = Field(
        None,
        description=(
            "Faults to inject (spec): comma-separated `kill=every:DURATION` (SIGKILL a worker "
            "process; needs STRESS_PROCESSES >= 1) and `lock=every:DURATION:hold:DURATION"
            "[:db:N]` (another process holds `BEGIN IMMEDIATE` on a database, longer than the "
            "busy timeout); durations in ms, s, m or h, e.g. "
            "`kill=every:20s,lock=every:30s:hold:12s`. Targets come from the faults' own seeded "
            "stream. Unset = no faults."
        ),
        json_schema_extra=_rule(FAULTS_GRAMMAR, "unset (no faults)"),
    )
    target_ops_per_sec: float | None = Field(
        None,
        gt=0,
        description=(
            "Open-loop rate of the whole run, in operations per second, spread evenly over the "
            "users as Poisson arrivals; latency counts from each op's scheduled start. "
            "Unset = closed loop with think times."
        ),
        json_schema_extra=_rule(
            "must be a number of operations per second above 0 (e.g. 500), or empty for a "
            "closed loop",
            "unset (closed loop)",
        ),
    )
    latency_limit_ms: float | None = Field(
        None,
        gt=0,
        description=(
            "Latency limit, in ms: ops slower than it are counted over the limit, and in "
            "open-loop mode an op already later than it when its turn comes is skipped and "
            "counted (as pgbench --latency-limit). Unset = no limit."
        ),
        json_schema_extra=_rule(
            "must be a number of milliseconds above 0 (e.g. 100), or empty for no limit",
            "unset",
        ),
    )
    think_min_ms: float = Field(
        10.0,
        ge=0,
        description="Shortest think time between two operations, in ms (profiles may override).",
        json_schema_extra=_rule("must be a number of milliseconds, 0 or more (e.g. 10)"),
    )
    think_max_ms: float = Field(
        200.0,
        ge=0,
        description="Longest think time, in ms (exclusive; profiles may override).",
        json_schema_extra=_rule("must be a number of milliseconds, 0 or more (e.g. 200)"),
    )
    batch_min: int = Field(
        100,
        ge=1,
        description="Fewest rows in one bulk insert (rows; profiles may override).",
        json_schema_extra=_rule("must be a whole number of rows, at least 1 (e.g. 100)"),
    )
    batch_max: int = Field(
        10000,
        ge=1,
        description="Most rows in one bulk insert (rows; profiles may override).",
        json_schema_extra=_rule("must be a whole number of rows, at least 1 (e.g. 10000)"),
    )
    log_interval: float = Field(
        5.0,
        gt=0,
        description="Time between progress lines, in seconds.",
        json_schema_extra=_rule("must be a number of seconds above 0 (e.g. 5)"),
    )
    output_dir: Path | None = Field(
        None,
        description="Folder for the run's artifacts (path); unset = `runs/<UTC time>-<seed>/`.",
        json_schema_extra=_rule("must be a folder path", "`runs/<UTC time>-<seed>/`"),
    )
    replay_file: Path | None = Field(
        None,
        description="A `replay.json` (path) whose recorded run is re-run exactly; unset = new run.",
        json_schema_extra=_rule("must be the path of a replay.json file", "unset"),
    )
    query_complexity_max: int = Field(
        3,
        ge=1,
        le=5,
        description="Most complex query a user issues (level, 1 = one-table select .. 5).",
        json_schema_extra=_rule("must be a whole number from 1 to 5 (e.g. 3)"),
    )
    processes: int = Field(
        0,
        ge=0,
        description=(
            "Worker processes (count): 0 = every user is a thread of the main process, "
            "N = N processes with the users dealt round-robin."
        ),
        json_schema_extra=_rule("must be a whole number of processes, 0 or more (e.g. 4)"),
    )
    engine: EngineName = Field(
        "sqlite",
        description="Database engine (name): `sqlite` (stdlib sqlite3) or `turso` (pyturso).",
        json_schema_extra=_rule(_one_of(ENGINES)),
    )
    connection: ConnectionMode = Field(
        "per-op",
        description=(
            "Connection shape: `per-op` (a fresh one per operation), `long-lived`, or "
            "`writer-loop` (one connection per process; writes that arrive together commit "
            "in one group)."
        ),
        json_schema_extra=_rule(_one_of(CONNECTION_MODES)),
    )
    id_allocation: IdStrategy = Field(
        "row",
        description=(
            "How row ids are reserved (name): `row` = one `ids` update per row (the original), "
            "`block` = leased blocks of ids, `rowid` = SQLite assigns them."
        ),
        json_schema_extra=_rule(_one_of(ID_STRATEGIES)),
    )
    busy_timeout_ms: int = Field(
        10000,
        ge=0,
        description="SQLite busy timeout, in ms.",
        json_schema_extra=_rule("must be a whole number of milliseconds, 0 or more (e.g. 10000)"),
    )
    turso_multiprocess_wal: bool = Field(
        False,
        description=(
            "Open every turso connection of the run (users, the lock fault's holder, the "
            "oracle) with pyturso's experimental multi-process WAL "
            '(`experimental_features="multiprocess_wal"`), so worker processes can share a '
            "file (`true` or `false`); needs STRESS_ENGINE=turso."
        ),
        json_schema_extra=_rule("must be true or false"),
    )
    turso_unflagged_processes: int = Field(
        0,
        ge=0,
        description=(
            "Worker processes (count; the first N) that open WITHOUT the multi-process WAL "
            "flag while the rest use it: a mixed deployment, as when one program on the store "
            "was built without it. 0 = every process agrees; needs "
            "STRESS_TURSO_MULTIPROCESS_WAL=true and fewer than STRESS_PROCESSES."
        ),
        json_schema_extra=_rule("must be a whole number, 0 or more (e.g. 1)"),
    )
    profile_dir: Path = Field(
        DEFAULT_PROFILE_DIR,
        description=(
            "Folder of user-class profiles (path; one TOML file per class). The default is the "
            "built-in profiles: the repository's `profiles/`, which the wheel ships as the "
            "package data `stress/profiles/` (an editable install reads the repository's folder)."
        ),
        json_schema_extra=_rule(
            "must be a folder path", "the built-in profiles (`inserter`, `query`, `mixed`)"
        ),
    )
    max_ops_per_user: int | None = Field(
        None,
        ge=1,
        description="Operations per user (count); set it to stop by count instead of by time.",
        json_schema_extra=_rule("must be a whole number, at least 1 (e.g. 1000)", "unset"),
    )
    mutant: str | None = Field(
        None,
        description=(
            "A store mutant (name): every user's store gets one deliberate defect, struck from "
            "the user's own seeded stream, so the oracle can be shown to catch it: `name` or "
            "`name:N` (1 in N), e.g. `drop-write:500`; `stress selftest` runs them all. "
            "Recorded in replay.json. Unset = the real store, unchanged."
        ),
        json_schema_extra=_rule(mutant_grammar(), "unset (the real store)"),
    )

    # Field name -> where its value came from (STRESS_X, --x, or "default").
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only explicit values: load_settings() reads the environment itself (see module doc).
        return (init_settings,)

    @field_validator(*_OPTIONAL_FIELDS, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("users", mode="before")
    @classmethod
    def _parse_users(cls, value: Any) -> Any:
        return _parse_user_counts(value) if isinstance(value, str) else value

    @field_validator("duration", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        # A plain number stays the float parser's (seconds, as always); anything else must
        # be a duration with a unit, the syntax the fault specs use.
        if not isinstance(value, str) or _PLAIN_NUMBER.fullmatch(value):
            return value
        try:
            return parse_duration(value)
        except ValueError:
            raise _invalid(_DURATION_FIX) from None

    @field_validator("faults", mode="before")
    @classmethod
    def _parse_faults(cls, value: Any) -> Any:
        # The one parse of the spec: every consumer reads settings.faults.specs. Only the text
        # is checked here; fault_plan() checks it against the other settings at run time.
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            return Faults.parse(value)
        except ConfigError as error:
            raise _invalid(error.fix) from None

    @field_validator("mutant", mode="before")
    @classmethod
    def _parse_mutant(cls, value: Any) -> Any:
        # Written back with its argument spelled out (drop-write -> drop-write:100), so
        # replay.json records the defect exactly as it ran.
        if not isinstance(value, str):
            return value
        try:
            return parse_mutant(value).text
        except ValueError as error:
            raise _invalid(f"{error}; {mutant_grammar()}") from None

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        for low, high in _ORDERED_PAIRS:
            if getattr(self, low) > getattr(self, high):
                raise PydanticCustomError(
                    _ORDER, "{low} is above {high}", {"low": low, "high": high}
                )
        return self

    def cpu_budget_percent(self) -> float:
        """The CPU budget in force: the setting, or 90% of every core when it is unset."""
        if self.max_cpu_percent is not None:
            return self.max_cpu_percent
        return 90.0 * (os.cpu_count() or 1)

    def user_counts(self) -> dict[str, int]:
        """Users per class, in class order, classes with no users left out."""
        if self.users is not None:
            pairs = list(self.users.items())
        else:
            counts = (self.inserter_users, self.query_users, self.mixed_users)
            pairs = list(zip(_CLASS_NAMES, counts, strict=True))
        return {name: count for name, count in pairs if count > 0}

    def source_of(self, field: str) -> str:
        """Where ``field``'s value came from: ``STRESS_X``, ``--x`` or ``default``."""
        if field not in type(self).model_fields:
            raise KeyError(field)
        return self._sources.get(field, "default")

    def name_of(self, field: str) -> str:
        """The variable or flag a message about ``field`` names: the one that set it, else
        ``STRESS_X`` (the value is the default, or the settings were built in code)."""
        if field not in type(self).model_fields:
            raise KeyError(field)
        return _name(field, self._sources)

    def users_name(self) -> str:
        """What set the user counts, for a message about them: STRESS_USERS (or its flag), or
        the three per-class counts' variables or flags, as ``A + B + C``."""
        fields = ("users",) if self.users is not None else _CLASS_FIELDS
        return " + ".join(self.name_of(field) for field in fields)


def env_name(field: str) -> str:
    """The variable that sets ``field``: ``think_min_ms`` -> ``STRESS_THINK_MIN_MS``."""
    return ENV_PREFIX + field.upper()


def flag_name(field: str) -> str:
    """The flag that sets ``field``: ``think_min_ms`` -> ``--think-min-ms``."""
    return "--" + field.replace("_", "-")


def _parse_user_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in text.split(","):
        name, sep, count = (part.strip() for part in pair.partition("="))
        if not sep or not name:
            raise _invalid(f"{_USERS_FIX}; {pair.strip()!r} is not a class=count pair")
        if name in counts:
            raise _invalid(f"{_USERS_FIX}; class {name!r} appears twice")
        if not re.fullmatch(r"[0-9]+", count):
            raise _invalid(f"{_USERS_FIX}; the count of {name!r} is {count!r}")
        counts[name] = int(count)
    return counts


def _invalid(fix: str) -> PydanticCustomError:
    return PydanticCustomError(_INVALID, "{fix}", {"fix": fix})


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from ``STRESS_*`` variables, then flags (``overrides``) on top.

    ``environ`` defaults to ``os.environ``, read at call time. ``overrides`` are command-line
    values keyed by field name, as :func:`stress.cli.settings_flags.overrides_from_namespace`
    returns them.
    Raises :class:`ConfigError` for an invalid value, an unknown variable, or STRESS_USERS set
    together with a per-class count.
    """
    raw: dict[str, Any] = {}
    names: dict[str, str] = {}
    env = os.environ if environ is None else environ
    for variable in sorted(key for key in env if key.startswith(ENV_PREFIX)):
        field = _field_of(variable, env[variable], _ENV_NAMES)
        raw[field], names[field] = env[variable], variable
    for field, value in (overrides or {}).items():
        _field_of(flag_name(field), value, _FLAG_NAMES)
        raw[field], names[field] = value, flag_name(field)
    _check_users_conflict(raw, names)
    return _validate(raw, names)


def settings_from_dict(data: Mapping[str, Any], origin: str | None = None) -> Settings:
    """Rebuild settings from ``model_dump(mode="json")`` output (e.g. replay.json's config).

    Never reads the environment. ``origin`` (e.g. ``"replay.json"``) labels the values, so an
    error or :meth:`Settings.source_of` says ``replay.json:duration``.
    """
    names = {} if origin is None else {field: f"{origin}:{field}" for field in data}
    return _validate(dict(data), names)


_ENV_NAMES = {env_name(field): field for field in Settings.model_fields}
_FLAG_NAMES = {flag_name(field): field for field in Settings.model_fields}


def _field_of(name: str, value: object, known: Mapping[str, str]) -> str:
    """The field that variable or flag ``name`` sets; unknown names list the near matches."""
    if name in known:
        return known[name]
    raise ConfigError(name, value, f"not a stress setting; {_near_hint(name, list(known))}")


def _near_hint(name: str, candidates: list[str]) -> str:
    # Match on the part after STRESS_ or --, upper-cased: the shared prefix would otherwise make
    # every name look alike, and STRESS_Duration should still find STRESS_DURATION.
    def stem(text: str) -> str:
        return text.removeprefix(ENV_PREFIX).removeprefix("--").replace("-", "_").upper()

    by_stem = {stem(candidate): candidate for candidate in candidates}
    near = [by_stem[key] for key in difflib.get_close_matches(stem(name), list(by_stem), n=3)]
    if near:
        return f"did you mean {' or '.join(near)}?"
    return f"valid: {', '.join(candidates)}"


def _check_users_conflict(raw: Mapping[str, Any], names: Mapping[str, str]) -> None:
    explicit = [names[field] for field in _CLASS_FIELDS if field in raw]
    if "users" in raw and explicit:
        fix = f"cannot be combined with {explicit[0]} (which wins would be ambiguous); use one"
        raise ConfigError(names["users"], raw["users"], fix)


def _validate(raw: dict[str, Any], names: dict[str, str]) -> Settings:
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        # `from None`: the ConfigError says it all; a pydantic traceback would only add noise.
        raise _translate(error, raw, names) from None
    settings._sources = names
    return settings


def _translate(
    error: ValidationError, raw: Mapping[str, Any], names: Mapping[str, str]
) -> ConfigError:
    detail = error.errors()[0]
    context = detail.get("ctx") or {}
    if detail["type"] == _ORDER:
        return _order_error(str(context["low"]), str(context["high"]), raw, names)
    field = str(detail["loc"][0]) if detail["loc"] else ""
    if field not in Settings.model_fields:
        return _unknown_key_error(field, names, detail["input"])
    fix = str(context["fix"]) if detail["type"] == _INVALID else _fix_of(field)
    return ConfigError(_name(field, names), raw.get(field, detail["input"]), fix)


def _unknown_key_error(field: str, names: Mapping[str, str], value: object) -> ConfigError:
    hint = _near_hint(field, list(Settings.model_fields))
    return ConfigError(names.get(field, field), value, f"not a stress setting; {hint}")


def _order_error(
    low: str, high: str, raw: Mapping[str, Any], names: Mapping[str, str]
) -> ConfigError:
    # Blame the end the user actually set: a lone STRESS_THINK_MAX_MS=5 is the culprit, not
    # the default minimum it falls below.
    blame_high = low not in names and high in names
    bad, other, bound = (high, low, "at least") if blame_high else (low, high, "at most")
    fix = f"must be {bound} {_name(other, names)} ({_shown(other, raw)})"
    return ConfigError(_name(bad, names), _shown(bad, raw), fix)


def _name(field: str, names: Mapping[str, str]) -> str:
    # The one answer to "which variable or flag set this": Settings.name_of and every error
    # raised while validating come here. A value nobody set is named by its variable.
    return names.get(field, env_name(field))


def _shown(field: str, raw: Mapping[str, Any]) -> str:
    if field in raw:
        return str(raw[field])
    return _format_value(Settings.model_fields[field].default)


def _format_value(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rule_of(field: str, key: str) -> str | None:
    extra = Settings.model_fields[field].json_schema_extra
    # Every field is declared with _rule(), so a missing one is a programming error.
    if not isinstance(extra, dict):
        raise TypeError(f"field {field} has no _rule() metadata")
    value = extra.get(key)
    return None if value is None else str(value)


def _fix_of(field: str) -> str:
    return _rule_of(field, "fix") or ""


def _shown_default(field: str) -> str:
    shown = _rule_of(field, "shown_default")
    return shown or f"`{_format_value(Settings.model_fields[field].default)}`"


def flag_help(field: str) -> str:
    """The help of ``field``'s flag: its description, default and variable."""
    info = Settings.model_fields[field]
    return f"{info.description} Default: {_shown_default(field).strip('`')}. [{env_name(field)}]"


def settings_table_markdown() -> str:
    """The README's table of settings: variable, flag, default and description of each."""
    lines = ["| Variable | Flag | Default | Description |", "|---|---|---|---|"]
    for field, info in Settings.model_fields.items():
        description = (info.description or "").replace("|", "\\|")
        lines.append(
            f"| `{env_name(field)}` | `{flag_name(field)}` | {_shown_default(field)} "
            f"| {description} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_table_markdown(), end="")

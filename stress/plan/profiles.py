"""User-class profiles: which operations a class of users runs, and on which tables.

A profile is a TOML file in the profile folder; its name is the file stem. A profile may
``extends = "other"`` to start from another profile and override it key by key (tables merge
recursively, so a child sets one table's weight without restating the rest; a weight of 0
removes an inherited table). Every error names the file and the key.

The op table is in :data:`OP_ORDER`, and :meth:`Profile.pick_op` turns the one uniform draw
per operation into an op through the cumulative weights, as the ancestor does, so a seed picks
the same op sequence whatever the profile's weights sum to.
"""

from __future__ import annotations

import math
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import accumulate
from pathlib import Path
from typing import Any

from stress.config import Settings, env_name
from stress.errors import ConfigError, ProfileError
from stress.metadb.schema import JSON_TABLES

__all__ = [
    "OP_ORDER",
    "WRITE_OPS",
    "OpKind",
    "Profile",
    "check_profiles",
    "format_profile",
    "format_profile_list",
    "load_profile",
    "load_profiles",
    "profile_from_dict",
]


class OpKind(StrEnum):
    """One kind of operation a user runs."""

    BULK_INSERT = "bulk_insert"
    SINGLE_INSERT = "single_insert"
    SIMPLE_SELECT = "simple_select"
    AGGREGATE = "aggregate"
    COMPLEX_JOIN = "complex_join"
    SCHEMA_DDL = "schema_ddl"


#: The order of the cumulative op table; changing it changes every seed's op sequence.
OP_ORDER: tuple[OpKind, ...] = tuple(OpKind)

#: Ops that write, and so stop once the disk budget is spent.
WRITE_OPS: frozenset[OpKind] = frozenset(
    {OpKind.BULK_INSERT, OpKind.SINGLE_INSERT, OpKind.SCHEMA_DDL}
)

_TOP_KEYS = ("description", "extends", "weights", "single_insert", "bulk_insert", "think")
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "single_insert": ("tables",),
    "bulk_insert": ("tables", "batch_min", "batch_max"),
    "think": ("min_ms", "max_ms"),
}
_TABLE_OPS = (OpKind.SINGLE_INSERT, OpKind.BULK_INSERT)


def _cumulative(weights: Iterable[float]) -> tuple[float, ...]:
    """Normalized running sums; from the last positive weight on, exactly 1.0.

    Pinning the tail to 1.0 keeps rounding from ever picking a trailing zero-weight entry:
    for every u in [0, 1) the first index whose sum exceeds u has a positive weight.
    """
    values = list(weights)
    total = math.fsum(values)
    sums = [running / total for running in accumulate(values)]
    last = max((i for i, weight in enumerate(values) if weight > 0), default=len(values) - 1)
    return tuple(sums[:last]) + (1.0,) * (len(values) - last)


def _pick(cumulative: tuple[float, ...], u: float) -> int:
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u={u!r}: must be a uniform draw in [0, 1)")
    return bisect_right(cumulative, u)


@dataclass(frozen=True)
class Profile:
    """One user class, resolved (``extends`` applied) and validated. Weights are normalized."""

    name: str
    path: Path
    description: str
    #: Every op in :data:`OP_ORDER` with its share of the draws (sums to 1).
    op_weights: tuple[tuple[OpKind, float], ...]
    #: Tables a single insert writes, with their shares.
    single_insert_tables: tuple[tuple[str, float], ...]
    #: Tables a bulk insert writes, with their shares.
    bulk_insert_tables: tuple[tuple[str, float], ...]
    #: Rows per bulk insert; None = the settings' STRESS_BATCH_MIN / STRESS_BATCH_MAX.
    batch_min: int | None = None
    batch_max: int | None = None
    #: Think time in ms; None = the settings' STRESS_THINK_MIN_MS / STRESS_THINK_MAX_MS.
    think_min_ms: float | None = None
    think_max_ms: float | None = None
    #: The profile this one starts from, if any.
    extends: str | None = None
    _op_sums: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _table_sums: dict[OpKind, tuple[float, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(op for op, _ in self.op_weights) != OP_ORDER:
            raise ValueError(f"profile {self.name}: op_weights must list {OP_ORDER} in order")
        # Precomputed because pick_op runs once per operation of every user.
        object.__setattr__(self, "_op_sums", _cumulative(w for _, w in self.op_weights))
        sums = {op: _cumulative(w for _, w in self.tables_of(op)) for op in _TABLE_OPS}
        object.__setattr__(self, "_table_sums", sums)

    def cumulative_op_weights(self) -> tuple[float, ...]:
        """Running sums of the op weights in :data:`OP_ORDER`; the last is exactly 1.0."""
        return self._op_sums

    def pick_op(self, u: float) -> OpKind:
        """The op for the uniform draw ``u`` in [0, 1): the first whose running sum exceeds u."""
        return OP_ORDER[_pick(self._op_sums, u)]

    def tables_of(self, op: OpKind) -> tuple[tuple[str, float], ...]:
        """The tables ``op`` (single_insert or bulk_insert) writes, with their shares."""
        if op is OpKind.SINGLE_INSERT:
            return self.single_insert_tables
        if op is OpKind.BULK_INSERT:
            return self.bulk_insert_tables
        raise ValueError(f"{op} writes no profile tables")

    def cumulative_table_weights(self, op: OpKind) -> tuple[float, ...]:
        """Running sums of the table weights of ``op``, in :meth:`tables_of` order."""
        return self._table_sums[op]

    def pick_table(self, op: OpKind, u: float) -> str:
        """The table ``op`` writes for the uniform draw ``u`` in [0, 1)."""
        tables = self.tables_of(op)
        if not tables:
            raise ValueError(f"profile {self.name} gives {op} no tables")
        return tables[_pick(self._table_sums[op], u)][0]

    def to_dict(self) -> dict[str, Any]:
        """The resolved profile as plain JSON-able data (for printing and replay.json)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "description": self.description,
            "extends": self.extends,
            "weights": {op.value: weight for op, weight in self.op_weights},
            "cumulative": {op.value: s for op, s in zip(OP_ORDER, self._op_sums, strict=True)},
            "single_insert_tables": dict(self.single_insert_tables),
            "bulk_insert_tables": dict(self.bulk_insert_tables),
            "batch_min": self.batch_min,
            "batch_max": self.batch_max,
            "think_min_ms": self.think_min_ms,
            "think_max_ms": self.think_max_ms,
        }


def load_profiles(folder: Path) -> dict[str, Profile]:
    """Every ``*.toml`` profile in ``folder``, by name, sorted by name."""
    loader = _Loader(folder)
    return {name: loader.profile(name) for name in loader.names()}


def load_profile(folder: Path, name: str) -> Profile:
    """The profile ``name`` of ``folder``; only it and the profiles it extends are read."""
    loader = _Loader(folder)
    if name not in loader.names():
        available = ", ".join(loader.names())
        raise ProfileError(str(folder / f"{name}.toml"), "name", f"no such profile ({available})")
    return loader.profile(name)


class _Loader:
    """Reads, checks and resolves the profiles of one folder, each file at most once."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            problem = "no such folder; point STRESS_PROFILE_DIR (--profile-dir) at the profiles"
            raise ProfileError(str(folder), "folder", problem)
        self.folder = folder
        self._names = sorted(path.stem for path in folder.glob("*.toml") if path.is_file())
        if not self._names:
            raise ProfileError(str(folder), "folder", "holds no *.toml profile")
        self._raw: dict[str, dict[str, Any]] = {}

    def names(self) -> list[str]:
        return list(self._names)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.toml"

    def profile(self, name: str) -> Profile:
        return _build(name, self.path(name), self._merged(name, ()))

    def _read(self, name: str) -> dict[str, Any]:
        if name not in self._raw:
            self._raw[name] = _read_file(self.path(name))
        return self._raw[name]

    def _merged(self, name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        """The profile's keys with its ancestors' underneath; ``chain`` detects cycles."""
        raw = self._read(name)
        parent = raw.get("extends")
        if parent is None:
            return raw
        path = str(self.path(name))
        if parent in (*chain, name):
            cycle = " -> ".join((*chain, name, parent))
            raise ProfileError(path, "extends", f"cycle: {cycle}")
        if parent not in self._names:
            available = ", ".join(self._names)
            raise ProfileError(path, "extends", f"no profile named {parent!r} ({available})")
        return _merge(self._merged(parent, (*chain, name)), raw)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        # The parser's message carries the line and column.
        raise ProfileError(str(path), "syntax", f"not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(str(path), "file", f"cannot be read: {error}") from None
    _check_file(str(path), data)
    return data


def _check_file(path: str, data: Mapping[str, Any]) -> None:
    """Checks one file's own keys, so an error names the file that holds the bad key."""
    _check_keys(path, "", data, _TOP_KEYS)
    for key in ("description", "extends"):
        if key in data and not isinstance(data[key], str):
            raise ProfileError(path, key, f"must be a string, got {data[key]!r}")
    _check_weights(path, "weights", data.get("weights", {}), OP_ORDER, "op")
    for section, keys in _SECTION_KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ProfileError(path, section, f"must be a table ([{section}])")
        _check_keys(path, f"{section}.", table, keys)
        if "tables" in table:
            _check_weights(path, f"{section}.tables", table["tables"], JSON_TABLES, "table")
    for key in ("batch_min", "batch_max"):
        _check_number(path, "bulk_insert", data.get("bulk_insert", {}), key, whole=True)
    for key in ("min_ms", "max_ms"):
        _check_number(path, "think", data.get("think", {}), key, whole=False)


def _check_keys(path: str, prefix: str, table: Mapping[str, Any], valid: Iterable[str]) -> None:
    valid = tuple(valid)
    for key in table:
        if key not in valid:
            raise ProfileError(path, prefix + key, f"unknown key; valid keys: {', '.join(valid)}")


def _check_weights(path: str, key: str, table: object, valid: Iterable[str], noun: str) -> None:
    if not isinstance(table, dict):
        raise ProfileError(path, key, f"must be a table of {noun} = weight")
    valid = tuple(valid)
    for name, weight in table.items():
        where = f"{key}.{name}"
        if name not in valid:
            raise ProfileError(path, where, f"unknown {noun}; valid: {', '.join(valid)}")
        if not _is_number(weight):
            raise ProfileError(path, where, f"weight must be a number, got {weight!r}")
        if weight < 0 or not math.isfinite(weight):
            raise ProfileError(path, where, f"weight must be finite and 0 or more, got {weight}")


def _check_number(path: str, section: str, table: Mapping[str, Any], key: str, whole: bool) -> None:
    if key not in table:
        return
    value = table[key]
    if whole and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ProfileError(
            path, f"{section}.{key}", f"must be a whole number of rows, at least 1, got {value!r}"
        )
    if not whole and not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ProfileError(
            path, f"{section}.{key}", f"must be milliseconds, 0 or more, got {value!r}"
        )


def _is_number(value: object) -> bool:
    # TOML booleans are Python bools, which are ints: `weight = true` must not count as 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _build(name: str, path: Path, data: Mapping[str, Any]) -> Profile:
    """Checks the merged keys as a whole and builds the profile, naming the child's file."""
    where = str(path)
    weights = data.get("weights", {})
    raw = [float(weights.get(op.value, 0)) for op in OP_ORDER]
    total = math.fsum(raw)
    if total <= 0:
        valid = ", ".join(OP_ORDER)
        raise ProfileError(where, "weights", f"all zero or missing; weigh at least one of {valid}")
    op_weights = tuple((op, weight / total) for op, weight in zip(OP_ORDER, raw, strict=True))
    tables = {op: _tables(where, data, op, weight) for op, weight in op_weights if op in _TABLE_OPS}
    bulk, think = data.get("bulk_insert", {}), data.get("think", {})
    _check_order(where, "bulk_insert.batch_min", bulk.get("batch_min"), bulk.get("batch_max"))
    _check_order(where, "think.min_ms", think.get("min_ms"), think.get("max_ms"))
    return Profile(
        name=name,
        path=path,
        description=data.get("description", ""),
        op_weights=op_weights,
        single_insert_tables=tables[OpKind.SINGLE_INSERT],
        bulk_insert_tables=tables[OpKind.BULK_INSERT],
        batch_min=bulk.get("batch_min"),
        batch_max=bulk.get("batch_max"),
        think_min_ms=_float_or_none(think.get("min_ms")),
        think_max_ms=_float_or_none(think.get("max_ms")),
        extends=data.get("extends"),
    )


def _tables(
    where: str, data: Mapping[str, Any], op: OpKind, op_weight: float
) -> tuple[tuple[str, float], ...]:
    # Zero weights are dropped: that is how a child removes a table it inherited.
    table = data.get(op.value, {}).get("tables", {})
    pairs = [(name, float(weight)) for name, weight in table.items() if weight > 0]
    if op_weight > 0 and not pairs:
        problem = f"{op} has weight {op_weight:.4g} but no table with a positive weight"
        raise ProfileError(where, f"{op}.tables", f"{problem} (e.g. token_usage = 1)")
    total = math.fsum(weight for _, weight in pairs)
    return tuple((name, weight / total) for name, weight in pairs)


def _check_order(where: str, key: str, low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        high_key = key.replace("min", "max")
        raise ProfileError(where, key, f"{low} is above {high_key} ({high})")


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def check_profiles(settings: Settings, profiles: Mapping[str, Profile]) -> None:
    """Checks the settings and the loaded profiles together, before a run starts.

    Every class with users needs a profile (a ConfigError names the setting that asked for
    it), and each used profile's batch and think ranges, completed from the settings where the
    profile leaves an end open, must not be inverted (a ProfileError names the profile's key).
    """
    for name, count in settings.user_counts().items():
        if name not in profiles:
            raise _missing_class(settings, name, count, profiles)
        profile = profiles[name]
        for key, low, high in (
            ("bulk_insert.batch_min", "batch_min", "batch_max"),
            ("think.min_ms", "think_min_ms", "think_max_ms"),
        ):
            _check_effective(profile, settings, key, low, high)


def _missing_class(
    settings: Settings, name: str, count: int, profiles: Mapping[str, Profile]
) -> ConfigError:
    field = "users" if settings.users is not None else f"{name}_users"
    label = settings.name_of(field)
    value = _users_text(settings.users) if settings.users is not None else count
    available = ", ".join(profiles) or "none"
    fix = f"class {name!r} has no profile in {settings.profile_dir} (profiles: {available})"
    return ConfigError(label, value, fix)


def _check_effective(profile: Profile, settings: Settings, key: str, low: str, high: str) -> None:
    own_low, own_high = getattr(profile, low), getattr(profile, high)
    if own_low is None and own_high is None:
        return  # both ends from the settings, which validated their own order
    value_low = getattr(settings, low) if own_low is None else own_low
    value_high = getattr(settings, high) if own_high is None else own_high
    if value_low > value_high:
        low_name = key if own_low is not None else settings.name_of(low)
        high_name = key.replace("min", "max") if own_high is not None else settings.name_of(high)
        problem = f"{low_name} ({value_low:g}) is above {high_name} ({value_high:g})"
        raise ProfileError(str(profile.path), key, problem)


def _users_text(users: Mapping[str, int]) -> str:
    return ",".join(f"{name}={count}" for name, count in users.items())


def format_profile(profile: Profile, settings: Settings | None = None) -> str:
    """The resolved profile as a readable table (``stress profiles show NAME``).

    With ``settings``, the batch and think ranges the profile leaves open show the settings'
    values; without, the variables that would supply them.
    """
    lines = [
        f"profile  {profile.name}  ({profile.path})",
        f"extends  {profile.extends or '-'}",
        f"about    {profile.description or '-'}",
        "",
        f"{'op':<16}{'weight':>8}{'cumulative':>12}",
    ]
    sums = profile.cumulative_op_weights()
    for (op, weight), running in zip(profile.op_weights, sums, strict=True):
        write = "  (write)" if op in WRITE_OPS else ""
        lines.append(f"{op.value:<16}{weight:>8.4f}{running:>12.4f}{write}")
    for op in _TABLE_OPS:
        lines += ["", f"{op.value + ' tables':<24}{'weight':>8}"]
        lines += [f"  {name:<22}{weight:>8.4f}" for name, weight in profile.tables_of(op)]
    batch = (
        _end(profile.batch_min, "batch_min", settings),
        _end(profile.batch_max, "batch_max", settings),
    )
    think = (
        _end(profile.think_min_ms, "think_min_ms", settings),
        _end(profile.think_max_ms, "think_max_ms", settings),
    )
    lines += [
        "",
        f"batch    {batch[0]} .. {batch[1]} rows",
        f"think    {think[0]} .. {think[1]} ms",
    ]
    return "\n".join(lines) + "\n"


def _end(value: float | None, field: str, settings: Settings | None) -> str:
    if value is not None:
        return f"{value:g}"
    if settings is None:
        return env_name(field)
    return f"{getattr(settings, field):g} ({settings.name_of(field)})"


def format_profile_list(profiles: Mapping[str, Profile]) -> str:
    """One line per profile: name, description, and what it extends."""
    width = max((len(name) for name in profiles), default=0)
    lines = []
    for name, profile in profiles.items():
        extends = f"  (extends {profile.extends})" if profile.extends else ""
        lines.append(f"{name:<{width}}  {profile.description}{extends}")
    return "\n".join(lines) + "\n"


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Rebuild a resolved profile from its ``to_dict()`` form (as stored in replay.json)."""
    return Profile(
        name=data["name"],
        path=Path(data["path"]),
        description=data["description"],
        op_weights=tuple((OpKind(op), float(w)) for op, w in data["weights"].items()),
        single_insert_tables=tuple(data["single_insert_tables"].items()),
        bulk_insert_tables=tuple(data["bulk_insert_tables"].items()),
        batch_min=data["batch_min"],
        batch_max=data["batch_max"],
        think_min_ms=data["think_min_ms"],
        think_max_ms=data["think_max_ms"],
        extends=data["extends"],
    )

"""The no-loss oracle: after a run, the store holds exactly what the run says it wrote.

Inputs are the run folder's ledgers (what every user handed the store and what it answered),
each database's spool, and the databases themselves. Checks, per database:

- every acknowledged row (outcome ``persisted``) is present under its id with the same JSON;
- every spooled row is in the spool, or present in the store (re-ingested by a spool replay);
- the store holds no row that no one wrote, except rows of an op that was in flight when its
  process was killed (``indeterminate``: present or absent, that op's rows and nothing else,
  recognised by regenerating the op from its user's seed);
- ``PRAGMA integrity_check`` passes (``quick_check`` past a size threshold).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stress.ledger import LedgerEntry, ledger_path, read_ledger, row_digest, seed_ledger_path
from stress.metadb import (
    JSON_TABLES,
    MetaDb,
    StoreOptions,
    iter_spool_lines,
    model_for,
    spool_files,
)
from stress.profiles import profile_from_dict
from stress.workload import PlanLimits, UserPlan

__all__ = [
    "MAX_EXAMPLES",
    "QUICK_CHECK_BYTES",
    "DatabaseLedger",
    "Verification",
    "format_verification",
    "plan_regenerator",
    "run_databases",
    "verify_databases",
    "verify_run",
]

MAX_EXAMPLES = 20
#: Past this file size the full integrity check (which reads every index) gives way to
#: quick_check, so verifying a long soak does not take longer than the soak.
QUICK_CHECK_BYTES = 256 * 2**20


@dataclass
class Verification:
    """Counts and examples of one verification; ``ok`` when nothing is missing or unaccounted."""

    acknowledged: int = 0
    found: int = 0
    missing: int = 0
    #: Spooled rows still (only) in the spool.
    spooled: int = 0
    #: Spooled rows a spool replay put in the store (counted in ``found`` too).
    reingested: int = 0
    unaccounted: int = 0
    #: Ops in flight when their process died, and how many of their rows were found.
    indeterminate: int = 0
    indeterminate_rows_present: int = 0
    integrity: dict[str, str] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def ok(self) -> bool:
        integrity_ok = all(result == "ok" for result in self.integrity.values())
        return self.missing == 0 and self.unaccounted == 0 and integrity_ok

    def example(self, kind: str, text: str) -> None:
        if len(self.examples[kind]) < MAX_EXAMPLES:
            self.examples[kind].append(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "acknowledged": self.acknowledged,
            "found": self.found,
            "missing": self.missing,
            "spooled": self.spooled,
            "reingested": self.reingested,
            "unaccounted": self.unaccounted,
            "indeterminate": self.indeterminate,
            "indeterminate_rows_present": self.indeterminate_rows_present,
            "integrity": dict(self.integrity),
            "examples": {kind: list(items) for kind, items in self.examples.items()},
        }


@dataclass(frozen=True)
class DatabaseLedger:
    """What one database should hold: its place and the ledger files of its writers."""

    index: int
    path: Path
    home: Path
    ledgers: tuple[Path, ...]


#: (ledger path, op index, stream position before the op) -> the (table, row) pairs that op
#: writes; supplied by the caller, who can regenerate an op from its user's seed.
Regenerate = Callable[[Path, int, int], Iterable[tuple[str, dict[str, Any]]]]


@dataclass
class _Expected:
    by_id: dict[tuple[str, int], tuple[str, int, str]] = field(default_factory=dict)
    spooled_no_id: dict[tuple[str, int], str] = field(default_factory=dict)
    in_flight: list[tuple[Path, LedgerEntry]] = field(default_factory=list)


def _read_expectations(ledgers: Iterable[Path], result: Verification) -> _Expected:
    expected = _Expected()
    for path in ledgers:
        open_intent: LedgerEntry | None = None
        for entry in read_ledger(path):
            if entry.status == "intent":
                if open_intent is not None:
                    expected.in_flight.append((path, open_intent))
                open_intent = entry
                continue
            open_intent = None
            _expect_row(expected, path, entry, result)
        if open_intent is not None:
            expected.in_flight.append((path, open_intent))
    return expected


def _expect_row(expected: _Expected, path: Path, entry: LedgerEntry, result: Verification) -> None:
    where = f"{path.stem} op {entry.op_index}"
    if entry.status == "persisted":
        result.acknowledged += 1
    if entry.status in ("persisted", "spooled") and entry.id is not None:
        expected.by_id[(entry.table, entry.id)] = (entry.status, entry.digest, where)
    elif entry.status == "spooled":
        expected.spooled_no_id[(entry.table, entry.digest)] = where


def _spool_keys(home: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(table, id) and (table, digest) of every insert line in the spool."""
    by_id: set[tuple[str, int]] = set()
    by_digest: set[tuple[str, int]] = set()
    for path in spool_files(home):
        for line in iter_spool_lines(path):
            record = line.record
            if record is None or record.get("op") != "insert":
                continue
            table, row_json = record.get("table"), record.get("row_json")
            if isinstance(table, str) and isinstance(row_json, str):
                by_digest.add((table, row_digest(row_json)))
                if isinstance(record.get("id"), int):
                    by_id.add((table, record["id"]))
    return by_id, by_digest


def _store_rows(store: MetaDb) -> Iterator[tuple[str, int, int]]:
    for table in JSON_TABLES:
        for row_id, row_json in store.query(f"SELECT id, row_json FROM {table}").rows:
            yield table, int(row_id), row_digest(str(row_json))


@dataclass
class _Check:
    """State of one database's check: what is expected, and what the store showed."""

    expected: _Expected
    spool_ids: set[tuple[str, int]]
    spool_digests: set[tuple[str, int]]
    in_flight_rows: set[tuple[str, int]]
    seen_ids: set[tuple[str, int]] = field(default_factory=set)
    seen_digests: set[tuple[str, int]] = field(default_factory=set)


def verify_database(
    database: DatabaseLedger, result: Verification, regenerate: Regenerate | None = None
) -> None:
    """Check one database against its ledgers and spool, adding to ``result``."""
    expected = _read_expectations(database.ledgers, result)
    spool_ids, spool_digests = _spool_keys(database.home)
    check = _Check(expected, spool_ids, spool_digests, _in_flight_rows(expected, regenerate))
    result.indeterminate += len(expected.in_flight)
    store = MetaDb(database.path, database.home, StoreOptions(read_only=True))
    try:
        for table, row_id, digest in _store_rows(store):
            _check_store_row(check, (table, row_id), digest, result)
        _check_unseen(check, result)
        result.integrity[str(database.path)] = _integrity(store, database.path)
    finally:
        store.close()


def _check_store_row(
    check: _Check, key: tuple[str, int], digest: int, result: Verification
) -> None:
    table, row_id = key
    hit = check.expected.by_id.get(key)
    if hit is not None:
        check.seen_ids.add(key)
        status, want, where = hit
        if want != digest:
            result.missing += 1
            result.example("changed", f"{table} id {row_id}: content differs from {where}'s")
        else:
            result.found += 1
            result.reingested += 1 if status == "spooled" else 0
        return
    if (table, digest) in check.expected.spooled_no_id:
        check.seen_digests.add((table, digest))
        result.found += 1
        result.reingested += 1
        return
    if (table, digest) in check.in_flight_rows:
        result.indeterminate_rows_present += 1
        return
    result.unaccounted += 1
    result.example("unaccounted", f"{table} id {row_id}: no user wrote it")


def _check_unseen(check: _Check, result: Verification) -> None:
    """Expected rows the store did not show: spooled ones must be in the spool."""
    for key, (status, _digest, where) in check.expected.by_id.items():
        if key in check.seen_ids:
            continue
        if status == "spooled" and key in check.spool_ids:
            result.spooled += 1
            continue
        result.missing += 1
        result.example("missing", f"{key[0]} id {key[1]} ({status}, {where})")
    for key, where in check.expected.spooled_no_id.items():
        if key in check.seen_digests:
            continue
        if key in check.spool_digests:
            result.spooled += 1
            continue
        result.missing += 1
        result.example("missing", f"{key[0]} row spooled without id ({where})")


def _in_flight_rows(expected: _Expected, regenerate: Regenerate | None) -> set[tuple[str, int]]:
    """(table, digest) of every row the in-flight ops would have written."""
    rows: set[tuple[str, int]] = set()
    if regenerate is None:
        return rows
    for path, intent in expected.in_flight:
        for table, row in regenerate(path, intent.op_index, intent.digest):
            stored = model_for(table).model_validate(row).model_dump_json()
            rows.add((table, row_digest(stored)))
    return rows


def _integrity(store: MetaDb, path: Path) -> str:
    quick = path.exists() and path.stat().st_size > QUICK_CHECK_BYTES
    problems = store.integrity_check(quick=quick)
    return "ok" if problems == ["ok"] else "; ".join(problems[:5])


def verify_databases(
    databases: Iterable[DatabaseLedger], regenerate: Regenerate | None = None
) -> Verification:
    """Verify every database; the result's ``ok`` is the run's verdict."""
    result = Verification()
    for database in databases:
        verify_database(database, result, regenerate)
    return result


def run_databases(run_dir: Path, replay_doc: Mapping[str, Any]) -> list[DatabaseLedger]:
    """The databases of a run folder, each with the ledgers of the users that wrote to it."""
    ledger_dir = run_dir / "ledger"
    by_database: dict[int, list[Path]] = defaultdict(list)
    for user in replay_doc["users"]:
        path = ledger_path(ledger_dir, int(user["user_id"]))
        if path.exists():
            by_database[int(user["database_idx"])].append(path)
    databases = []
    for index in range(int(replay_doc["config"]["databases"])):
        home = run_dir / f"db-{index}"
        seed = seed_ledger_path(ledger_dir, index)
        ledgers = ([seed] if seed.exists() else []) + by_database[index]
        databases.append(DatabaseLedger(index, home / "meta.db", home, tuple(ledgers)))
    return databases


def plan_regenerator(replay_doc: Mapping[str, Any]) -> Regenerate:
    """Rebuilds any user's op from the run's seed, profiles and limits, in O(1) per op."""
    config = replay_doc["config"]
    limits = PlanLimits(
        config["batch_min"],
        config["batch_max"],
        config["think_min_ms"],
        config["think_max_ms"],
        config["query_complexity_max"],
    )
    profiles = {name: profile_from_dict(p) for name, p in replay_doc["profiles"].items()}
    classes = {int(u["user_id"]): u["class"] for u in replay_doc["users"]}
    seed = int(replay_doc["global_seed"])

    def regenerate(path: Path, op_index: int, draws_at: int) -> list[tuple[str, dict[str, Any]]]:
        user_id = int(path.stem.removeprefix("user-"))
        plan = UserPlan(seed, user_id, profiles[classes[user_id]], limits)
        plan.resume_at(op_index, draws_at)
        op = plan.next_op()
        return [(op.table, row) for row in op.rows] if op.table is not None else []

    return regenerate


def verify_run(run_dir: Path, replay_doc: Mapping[str, Any] | None = None) -> Verification:
    """Verify a finished run folder (its ``replay.json`` says who wrote where)."""
    if replay_doc is None:
        replay_doc = orjson.loads((run_dir / "replay.json").read_bytes())
    return verify_databases(run_databases(run_dir, replay_doc), plan_regenerator(replay_doc))


def format_verification(result: Verification) -> str:
    """The verdict in a few lines, with examples of each problem."""
    verdict = "ok" if result.ok else "FAILED"
    lines = [
        f"verification {verdict}: {result.acknowledged:,} acknowledged, {result.found:,} found, "
        f"{result.missing:,} missing, {result.spooled:,} spooled, "
        f"{result.reingested:,} re-ingested, {result.unaccounted:,} unaccounted, "
        f"{result.indeterminate:,} in flight at a kill "
        f"({result.indeterminate_rows_present:,} of their rows present)"
    ]
    bad = {path: state for path, state in result.integrity.items() if state != "ok"}
    lines.extend(f"  integrity {path}: {state}" for path, state in bad.items())
    for kind, examples in result.examples.items():
        lines.extend(f"  {kind}: {example}" for example in examples[:5])
    return "\n".join(lines)

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

import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stress.artifacts import ReplayFile, read_replay_file
from stress.metadb import (
    JSON_TABLES,
    MetaDb,
    MetaDbError,
    StoreOptions,
    iter_spool_lines,
    model_for,
    spool_files,
)
from stress.oracle.ledger import (
    INTENT,
    PERSISTED,
    SPOOLED,
    iter_ledger_chunks,
    ledger_path,
    row_digest,
    seed_ledger_path,
)
from stress.oracle.storeread import (
    QUICK_CHECK_BYTES,
    Chunk,
    DisorderedRead,
    integrity,
    read_in_child,
    store_chunks,
)
from stress.plan.profiles import profile_from_dict
from stress.plan.workload import PlanLimits, UserPlan
from stress.signature import Check, invariant_check
from stress.summary import MAX_EXAMPLES, Verdict

__all__ = [
    "FINDING_OPS",
    "MAX_EXAMPLES",
    "QUICK_CHECK_BYTES",
    "DatabaseLedger",
    "Finding",
    "Verification",
    "format_verification",
    "plan_regenerator",
    "run_databases",
    "spool_keys",
    "verify_databases",
    "verify_run",
]

#: Distinct (ledger, op) pairs a finding keeps, so the failure's op kind can be told cheaply.
FINDING_OPS = 64
#: The checks whose findings name what a row was promised, beyond the counts' words: a row the
#: store said it spooled that the spool lacks, and one id acknowledged for two rows.
SPOOL_CHECK = invariant_check("spool")
UNIQUE_IDS_CHECK = invariant_check("unique-ids")


@dataclass
class Finding:
    """Where one check failed: the tables, and some of the ops (ledger, op index) involved.

    Kept beside the counts (not in the verdict, whose format is fixed) so that a failure's
    signature can name the table and op kind (:mod:`stress.oracle.failure`).
    """

    tables: set[str] = field(default_factory=set)
    ops: set[tuple[Path, int]] = field(default_factory=set)
    #: Failing rows whose op is not known (a row no one wrote, an unreadable file).
    unknown_ops: bool = False

    def add(self, table: str | None, op: tuple[Path, int] | None) -> None:
        if table is not None:
            self.tables.add(table)
        if op is None:
            self.unknown_ops = True
        elif len(self.ops) < FINDING_OPS:
            self.ops.add(op)


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
    #: Expected rows of a database that could not be read (corrupt or gone): not checked.
    unchecked: int = 0
    integrity: dict[str, str] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: Check (a :class:`~stress.signature.Check` word, or ``invariant:NAME``) -> where it failed.
    findings: dict[str, Finding] = field(default_factory=lambda: defaultdict(Finding))

    @property
    def ok(self) -> bool:
        integrity_ok = all(result == "ok" for result in self.integrity.values())
        clean = self.missing == 0 and self.unaccounted == 0 and self.unchecked == 0
        return clean and integrity_ok

    def example(self, kind: str, text: str) -> None:
        if len(self.examples[kind]) < MAX_EXAMPLES:
            self.examples[kind].append(text)

    def to_dict(self) -> Verdict:
        """The verdict as ``summary.json`` and ``verification.json`` hold it."""
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
            "unchecked": self.unchecked,
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


#: One expected row: ``key`` = table index << 56 | id, so one in-place sort orders rows by
#: (table, id) and a table's rows are one contiguous run; 23 bytes a row, so verifying
#: millions of rows stays small (a dict of tuples would take ~200 bytes a row).
_EXPECT_DTYPE = np.dtype(
    [("key", "<i8"), ("digest", "<u8"), ("op", "<u4"), ("source", "<u2"), ("spooled", "?")]
)
_ID_BITS = 56


@dataclass
class _Expected:
    """What one database should hold."""

    rows: np.ndarray[Any, Any]  # of _EXPECT_DTYPE, sorted by key
    paths: list[Path]
    #: Spooled rows with no id (the engine would have assigned it): (table, digest) -> where.
    spooled_no_id: dict[tuple[str, int], str]
    #: Ops in flight at a kill: (ledger, op index, stream position before the op).
    in_flight: list[tuple[Path, int, int]]

    def op_at(self, position: int) -> tuple[Path, int]:
        row = self.rows[position]
        return self.paths[int(row["source"])], int(row["op"])

    def where(self, position: int) -> str:
        row = self.rows[position]
        return f"{self.paths[int(row['source'])].stem} op {int(row['op'])}"

    def table_span(self, table_index: int) -> tuple[int, int]:
        keys = self.rows["key"]
        low, high = np.searchsorted(keys, [table_index << _ID_BITS, (table_index + 1) << _ID_BITS])
        return int(low), int(high)


@dataclass
class _OpenIntent:
    """The last intent read so far and the row records seen after it."""

    op: int
    #: Rows the op handed the store (the intent's ``id`` field).
    count: int
    #: The user's stream position before the op (the intent's ``digest`` field).
    draws_at: int
    rows: int = 0


def _intents_and_rows(
    records: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Positions of the chunk's intents, and the row records after each up to the next one."""
    intents = np.flatnonzero(records["status"] == INTENT)
    ends = np.append(intents[1:], len(records))
    rows: np.ndarray[Any, Any] = ends - intents - 1
    return intents, rows


def _judge(open_intent: _OpenIntent | None, path: Path, expected: _Expected) -> None:
    """An op is in flight unless the ledger holds a row record for every row it handed over.

    A kill can land after the store committed a bulk op but before the user recorded all of
    its rows: the op is then as undecided as one with no record at all, and its unrecorded
    rows must be recognised by regeneration, not called unaccounted (issue 13, item 1).
    """
    if open_intent is not None and open_intent.rows < open_intent.count:
        expected.in_flight.append((path, open_intent.op, open_intent.draws_at))


def _read_ledger_file(
    path: Path, source: int, expected: _Expected, parts: list[np.ndarray[Any, Any]]
) -> int:
    """Add one ledger's rows to ``parts`` and its in-flight ops; returns acknowledged rows."""
    acknowledged = 0
    open_intent: _OpenIntent | None = None  # its rows may go on in the next chunk
    for records in iter_ledger_chunks(path):
        intents, rows = _intents_and_rows(records)
        lead = int(intents[0]) if len(intents) else len(records)
        if open_intent is not None:
            open_intent.rows += lead
        if len(intents):
            _judge(open_intent, path, expected)
            for position, count in zip(intents[:-1], rows[:-1], strict=True):
                intent = records[position]
                if count < int(intent["id"]):
                    expected.in_flight.append((path, int(intent["op"]), int(intent["digest"])))
            last = records[intents[-1]]
            open_intent = _OpenIntent(
                int(last["op"]), int(last["id"]), int(last["digest"]), int(rows[-1])
            )
        acknowledged += _keep_rows(records, source, expected, parts)
    _judge(open_intent, path, expected)
    return acknowledged


def _keep_rows(
    records: np.ndarray[Any, Any],
    source: int,
    expected: _Expected,
    parts: list[np.ndarray[Any, Any]],
) -> int:
    status = records["status"]
    for record in records[(status == SPOOLED) & (records["id"] < 0)]:
        key = (JSON_TABLES[record["table"]], int(record["digest"]))
        expected.spooled_no_id[key] = f"{expected.paths[source].stem} op {int(record['op'])}"
    kept = records[((status == PERSISTED) | (status == SPOOLED)) & (records["id"] >= 0)]
    rows = np.empty(len(kept), dtype=_EXPECT_DTYPE)
    rows["key"] = (kept["table"].astype(np.int64) << _ID_BITS) | kept["id"]
    rows["digest"], rows["op"] = kept["digest"], kept["op"]
    rows["source"], rows["spooled"] = source, kept["status"] == SPOOLED
    parts.append(rows)
    return int(np.count_nonzero(status == PERSISTED))


def _read_expectations(ledgers: Sequence[Path], result: Verification) -> _Expected:
    empty = np.zeros(0, dtype=_EXPECT_DTYPE)
    expected = _Expected(empty, list(ledgers), {}, [])
    parts: list[np.ndarray[Any, Any]] = []
    for source, path in enumerate(ledgers):
        result.acknowledged += _read_ledger_file(path, source, expected, parts)
    rows = np.concatenate(parts) if parts else empty
    parts.clear()
    rows.sort(order="key", kind="stable")
    expected.rows = rows
    _find_reused_ids(expected, result)
    return expected


def _find_reused_ids(expected: _Expected, result: Verification) -> None:
    """One id acknowledged for two rows of a table: the store handed it out twice.

    The rows are sorted by (table, id), so a reused id is two equal neighbours. Only one of
    the two can be in the store: the other is also counted missing below; this names why.
    """
    keys = expected.rows["key"]
    for at in np.flatnonzero(keys[1:] == keys[:-1]) + 1:
        packed = int(keys[at])
        table = JSON_TABLES[packed >> _ID_BITS]
        result.findings[UNIQUE_IDS_CHECK].add(table, expected.op_at(int(at)))


def spool_keys(home: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
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


@dataclass
class _Check:
    """State of one database's check: what is expected, and what the store showed."""

    expected: _Expected
    spool_ids: set[tuple[str, int]]
    spool_digests: set[tuple[str, int]]
    #: (table, digest) -> copies the in-flight ops may still have left in the store.
    in_flight_rows: Counter[tuple[str, int]]
    seen: np.ndarray[Any, np.dtype[np.bool_]]
    #: How examples name the database (``db-N``), so a failure points at its file.
    database: str = "db-0"
    seen_no_id: set[tuple[str, int]] = field(default_factory=set)

    def example(self, result: Verification, kind: str, text: str) -> None:
        result.example(kind, f"{self.database}: {text}")


def verify_database(
    database: DatabaseLedger,
    result: Verification,
    regenerate: Regenerate | None = None,
    options: StoreOptions | None = None,
) -> None:
    """Check one database against its ledgers and spool, adding to ``result``.

    ``options`` say how to open it (default: sqlite, read-only; see :func:`oracle_options`).
    """
    expected = _read_expectations(database.ledgers, result)
    spool_ids, spool_digests = spool_keys(database.home)
    in_flight = _in_flight_rows(expected, regenerate)
    seen = np.zeros(len(expected.rows), dtype=np.bool_)
    check = _Check(expected, spool_ids, spool_digests, in_flight, seen, f"db-{database.index}")
    result.indeterminate += len(expected.in_flight)
    options = options or StoreOptions(read_only=True)
    if options.engine == "turso":
        # pyturso can hang or die reading a file its experimental WAL mode left behind: read
        # in a child the oracle can kill, so the verdict says so instead of never coming.
        with tempfile.TemporaryDirectory(prefix="stress-oracle-") as work:
            read = read_in_child(database.path, database.home, options, Path(work))
            _check_read(check, read.chunks(), database.path, result, read.state, read.error)
        return
    store = MetaDb(database.path, database.home, options)
    try:
        _check_store(check, store, database.path, result)
    finally:
        store.close()


def _check_store(check: _Check, store: MetaDb, path: Path, result: Verification) -> None:
    """Scan the store against the expectations, in this process (sqlite)."""
    chunks = (
        (table, ids, digests)
        for table in JSON_TABLES
        for ids, digests in store_chunks(store, table)
    )
    _check_read(check, chunks, path, result, lambda: integrity(store, path))


def _check_read(
    check: _Check,
    chunks: Iterable[Chunk],
    path: Path,
    result: Verification,
    state: Callable[[], str],
    stopped: str | None = None,
) -> None:
    """Check the rows a store showed, then its integrity (``state``); an unreadable file is
    a finding, not a crash.

    A corrupt or vanished database must not stop the oracle: its integrity says why, the
    rows it could not show are counted ``unchecked``, and the other databases are still
    checked (issue 13, item 9). ``stopped`` is why a read already made stopped short (a
    child's); a read made here stops on the store's error or on rows out of order.
    """
    try:
        for table, ids, digests in chunks:
            span = check.expected.table_span(JSON_TABLES.index(table))
            _check_chunk(check, table, span, ids, digests, result)
    except (MetaDbError, DisorderedRead) as error:
        stopped = str(error)
    if stopped is not None:
        _unreadable(check, result, path, stopped)
        return
    _check_unseen(check, result)
    found = result.integrity[str(path)] = state()
    if found != "ok":
        result.findings[Check.UNREADABLE if "unreadable" in found else Check.INTEGRITY].add(
            None, None
        )


def _check_chunk(
    check: _Check,
    table: str,
    span: tuple[int, int],
    ids: np.ndarray[Any, Any],
    digests: list[int],
    result: Verification,
) -> None:
    """Match a chunk of store rows against the table's expected rows (``span``)."""
    low, high = span
    expected = check.expected
    want_ids = expected.rows["key"][low:high] & ((1 << _ID_BITS) - 1)
    position = np.searchsorted(want_ids, ids)
    clipped = np.minimum(position, max(len(want_ids) - 1, 0))
    hit = (position < len(want_ids)) & (want_ids[clipped] == ids if len(want_ids) else False)
    for offset in np.flatnonzero(hit):
        at = low + int(clipped[offset])
        check.seen[at] = True
        if int(expected.rows[at]["digest"]) != digests[offset]:
            result.missing += 1
            result.findings[Check.CHANGED].add(table, expected.op_at(at))
            check.example(
                result,
                "changed",
                f"{table} id {ids[offset]}: content differs from {expected.where(at)}'s",
            )
            continue
        result.found += 1
        result.reingested += 1 if expected.rows[at]["spooled"] else 0
    for offset in np.flatnonzero(~hit):
        _check_stranger(check, table, int(ids[offset]), digests[offset], result)


def _check_stranger(
    check: _Check, table: str, row_id: int, digest: int, result: Verification
) -> None:
    """A store row no ledger wrote under its id: in flight, re-ingested, or unaccounted.

    Each attempt of an op in flight at a kill explains at most one copy of each of its rows,
    and is asked first: an op killed after its commit and then spooled on its re-run leaves
    its first copy in the store, which is not a re-ingested spool line. A copy beyond what
    the attempts explain is unaccounted: a store that writes a row twice is caught.
    """
    key = (table, digest)
    if check.in_flight_rows[key] > 0:
        check.in_flight_rows[key] -= 1
        result.indeterminate_rows_present += 1
        return
    if key in check.expected.spooled_no_id and key not in check.seen_no_id:
        check.seen_no_id.add(key)
        result.found += 1
        result.reingested += 1
        return
    result.unaccounted += 1
    result.findings[Check.UNACCOUNTED].add(table, None)
    check.example(result, "unaccounted", f"{table} id {row_id}: no user wrote it")


def _check_unseen(check: _Check, result: Verification) -> None:
    """Expected rows the store did not show: spooled ones must be in the spool."""
    expected = check.expected
    for at in np.flatnonzero(~check.seen):
        packed, spooled = int(expected.rows[at]["key"]), bool(expected.rows[at]["spooled"])
        table, row_id = JSON_TABLES[packed >> _ID_BITS], packed & ((1 << _ID_BITS) - 1)
        if spooled and (table, row_id) in check.spool_ids:
            result.spooled += 1
            continue
        status = "spooled" if spooled else "persisted"
        result.missing += 1
        kind = SPOOL_CHECK if spooled else Check.MISSING
        result.findings[kind].add(table, expected.op_at(int(at)))
        where = expected.where(int(at))
        check.example(result, "missing", f"{table} id {row_id} ({status}, {where})")
    for no_id, where in expected.spooled_no_id.items():
        if no_id in check.seen_no_id:
            continue
        if no_id in check.spool_digests:
            result.spooled += 1
            continue
        result.missing += 1
        result.findings[SPOOL_CHECK].add(no_id[0], None)
        check.example(result, "missing", f"{no_id[0]} row spooled without id ({where})")


def _in_flight_rows(expected: _Expected, regenerate: Regenerate | None) -> Counter[tuple[str, int]]:
    """(table, digest) of every row the in-flight ops would have written, with multiplicity."""
    rows: Counter[tuple[str, int]] = Counter()
    if regenerate is None:
        return rows
    for path, op_index, draws_at in expected.in_flight:
        for table, row in regenerate(path, op_index, draws_at):
            stored = model_for(table).model_validate(row).model_dump_json()
            rows[(table, row_digest(stored))] += 1
    return rows


def _unreadable(check: _Check, result: Verification, path: Path, error: str) -> None:
    """``path`` could not be read (from some point on): what was not seen is unchecked."""
    unseen = int(np.count_nonzero(~check.seen))
    result.unchecked += unseen + len(check.expected.spooled_no_id) - len(check.seen_no_id)
    result.integrity[str(path)] = f"unreadable: {error}"
    result.findings[Check.UNREADABLE].add(None, None)
    check.example(result, "unreadable", f"{path.name}: {error}")


def verify_databases(
    databases: Iterable[DatabaseLedger],
    regenerate: Regenerate | None = None,
    options: StoreOptions | None = None,
) -> Verification:
    """Verify every database; the result's ``ok`` is the run's verdict."""
    result = Verification()
    for database in databases:
        verify_database(database, result, regenerate, options)
    return result


def oracle_options(config: Mapping[str, Any]) -> StoreOptions:
    """How the oracle opens a run's databases (``config``: its replay.json settings).

    Read-only with sqlite, except in a run on turso's multi-process WAL: there every
    connection must carry the flag, or turso's processes would not see the oracle's.
    """
    if config.get("turso_multiprocess_wal"):
        return StoreOptions(engine="turso", read_only=True, multiprocess_wal=True)
    return StoreOptions(read_only=True)


def run_databases(run_dir: Path, replay: ReplayFile) -> list[DatabaseLedger]:
    """The databases of a run folder, each with the ledgers of the users that wrote to it."""
    ledger_dir = run_dir / "ledger"
    by_database: dict[int, list[Path]] = defaultdict(list)
    for user in replay.users:
        path = ledger_path(ledger_dir, user.user_id)
        if path.exists():
            by_database[user.database_idx].append(path)
    databases = []
    for index in range(int(replay.config["databases"])):
        home = run_dir / f"db-{index}"
        seed = seed_ledger_path(ledger_dir, index)
        ledgers = ([seed] if seed.exists() else []) + by_database[index]
        databases.append(DatabaseLedger(index, home / "meta.db", home, tuple(ledgers)))
    return databases


def plan_regenerator(replay: ReplayFile) -> Regenerate:
    """Rebuilds any user's op from the run's seed, profiles and limits, in O(1) per op."""
    limits = PlanLimits.from_config(replay.config)
    profiles = {name: profile_from_dict(p) for name, p in replay.profiles.items()}
    classes = {user.user_id: user.class_ for user in replay.users}
    seed = replay.global_seed

    def regenerate(path: Path, op_index: int, draws_at: int) -> list[tuple[str, dict[str, Any]]]:
        user_id = int(path.stem.removeprefix("user-"))
        plan = UserPlan(seed, user_id, profiles[classes[user_id]], limits)
        plan.resume_at(op_index, draws_at)
        op = plan.next_op()
        return [(op.table, row) for row in op.rows] if op.table is not None else []

    return regenerate


def verify_run(run_dir: Path, replay: ReplayFile | None = None) -> Verification:
    """Verify a run folder: its ``replay.json`` (read when not given) says who wrote where.

    :class:`~stress.errors.ReplayFormatError` if that file is missing or damaged.
    """
    if replay is None:
        replay = read_replay_file(run_dir / "replay.json")
    return verify_databases(
        run_databases(run_dir, replay), plan_regenerator(replay), oracle_options(replay.config)
    )


def format_verification(result: Verification) -> str:
    """The verdict in a few lines, with examples of each problem."""
    verdict = "ok" if result.ok else "FAILED"
    lines = [
        f"verification {verdict}: {result.acknowledged:,} acknowledged, {result.found:,} found, "
        f"{result.missing:,} missing, {result.spooled:,} spooled, "
        f"{result.reingested:,} re-ingested, {result.unaccounted:,} unaccounted, "
        f"{result.indeterminate:,} in flight at a kill "
        f"({result.indeterminate_rows_present:,} of their rows present)"
        + (f", {result.unchecked:,} unchecked (database unreadable)" if result.unchecked else "")
    ]
    bad = {path: state for path, state in result.integrity.items() if state != "ok"}
    lines.extend(f"  integrity {path}: {state}" for path, state in bad.items())
    for kind, examples in result.examples.items():
        lines.extend(f"  {kind}: {example}" for example in examples[:5])
    return "\n".join(lines)

"""The write ledger and the no-loss oracle, on hand-made databases with known faults."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from stress.metadb import MetaDb, StoreOptions, replay_spool
from stress.oracle.ledger import LedgerWriter, read_ledger, row_digest
from stress.oracle.verify import DatabaseLedger, Verification, verify_databases
from stress.plan.draws import Draws, user_seed_sequence
from stress.plan.payloads import row_factory


def _rows(table: str, count: int, seed: int = 1) -> list[dict[str, Any]]:
    draws = Draws(user_seed_sequence(seed, 0))
    factory = row_factory(table)
    return [factory.make(draws) for _ in range(count)]


def _write(store: MetaDb, ledger: LedgerWriter, table: str, rows: list[dict[str, Any]]) -> None:
    for op_index, row in enumerate(rows):
        ledger.intent(op_index, table, 1, 0)
        outcome = store.record(table, row)
        assert outcome.row_json is not None
        ids = (outcome.id,) if outcome.id is not None else ()
        ledger.outcome(op_index, table, outcome.status, ids, (outcome.row_json,))


def _verify(tmp_path: Path, ledgers: list[Path], **kwargs: Any) -> Verification:
    database = DatabaseLedger(0, tmp_path / "meta.db", tmp_path, tuple(ledgers))
    return verify_databases([database], **kwargs)


@pytest.fixture
def written(tmp_path: Path) -> Path:
    """A database with 50 ticks and 20 messages, every write in one user's ledger."""
    path = tmp_path / "ledger" / "user-0.bin"
    ledger = LedgerWriter(path)
    with MetaDb.open(tmp_path / "meta.db", tmp_path, StoreOptions(ids="block")) as store:
        _write(store, ledger, "ticks", _rows("ticks", 50))
        _write(store, ledger, "messages", _rows("messages", 20, seed=2))
    ledger.close()
    return path


def test_ledger_round_trips_its_records(tmp_path: Path) -> None:
    ledger = LedgerWriter(tmp_path / "l.bin")
    ledger.intent(7, "ticks", 2, 0)
    ledger.outcome(7, "ticks", "persisted", (11, 12), ('{"a":1}', '{"a":2}'))
    ledger.outcome(8, "messages", "spooled", (), ('{"b":1}',))
    ledger.close()
    entries = list(read_ledger(tmp_path / "l.bin"))
    assert [(e.status, e.table, e.op_index, e.id) for e in entries] == [
        ("intent", "ticks", 7, 2),
        ("persisted", "ticks", 7, 11),
        ("persisted", "ticks", 7, 12),
        ("spooled", "messages", 8, None),
    ]
    assert entries[1].digest == row_digest('{"a":1}')


def test_ledger_reopened_appends_after_its_last_record(tmp_path: Path) -> None:
    first = LedgerWriter(tmp_path / "l.bin")
    first.intent(0, "ticks", 1, 0)
    first.close()
    second = LedgerWriter(tmp_path / "l.bin")
    second.intent(1, "ticks", 1, 0)
    second.close()
    assert [e.op_index for e in read_ledger(tmp_path / "l.bin")] == [0, 1]


def test_ledger_records_survive_without_close(tmp_path: Path) -> None:
    """A SIGKILLed process never closes its ledger: the mapped pages must still hold it."""
    ledger = LedgerWriter(tmp_path / "l.bin")
    ledger.intent(3, "ticks", 1, 0)
    ledger.outcome(3, "ticks", "persisted", (5,), ('{"x":1}',))
    # No close(): read what another process would see.
    assert [e.status for e in read_ledger(tmp_path / "l.bin")] == ["intent", "persisted"]


def test_clean_database_verifies(tmp_path: Path, written: Path) -> None:
    result = _verify(tmp_path, [written])
    assert result.ok, result.to_dict()
    assert (result.acknowledged, result.found, result.missing, result.unaccounted) == (70, 70, 0, 0)
    assert result.integrity == {str(tmp_path / "meta.db"): "ok"}


def test_deleted_row_is_missing(tmp_path: Path, written: Path) -> None:
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        conn.execute("DELETE FROM ticks WHERE id = (SELECT min(id) FROM ticks)")
    result = _verify(tmp_path, [written])
    assert not result.ok
    assert result.missing == 1 and result.found == 69
    assert "ticks id" in result.examples["missing"][0]


def test_changed_row_is_caught(tmp_path: Path, written: Path) -> None:
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        conn.execute(
            "UPDATE messages SET row_json = '{}' WHERE id = (SELECT max(id) FROM messages)"
        )
    result = _verify(tmp_path, [written])
    assert not result.ok and result.missing == 1
    assert result.examples["changed"]


def test_row_nobody_wrote_is_unaccounted(tmp_path: Path, written: Path) -> None:
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        conn.execute("INSERT INTO ticks (row_json) VALUES ('{\"ghost\": true}')")
    result = _verify(tmp_path, [written])
    assert not result.ok and result.unaccounted == 1
    assert "no user wrote it" in result.examples["unaccounted"][0]


def test_spooled_rows_are_accounted_then_found_after_spool_replay(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger" / "user-0.bin"
    ledger = LedgerWriter(ledger_path)
    options = StoreOptions(busy_timeout_ms=50, ids="rowid")
    store = MetaDb.open(tmp_path / "meta.db", tmp_path, options)
    _write(store, ledger, "ticks", _rows("ticks", 5))
    holder = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    _write(store, ledger, "messages", _rows("messages", 4))
    holder.execute("ROLLBACK")
    holder.close()
    ledger.close()
    before = _verify(tmp_path, [ledger_path])
    assert before.ok, before.to_dict()
    assert (before.found, before.spooled, before.missing) == (5, 4, 0)
    replayed = replay_spool(store)
    store.close()
    assert replayed.ingested == 4
    after = _verify(tmp_path, [ledger_path])
    assert after.ok, after.to_dict()
    assert (after.found, after.reingested, after.spooled) == (9, 4, 0)


def test_in_flight_op_may_be_present_but_nothing_else(tmp_path: Path) -> None:
    rows = _rows("ticks", 3)
    ledger_path = tmp_path / "ledger" / "user-0.bin"
    ledger = LedgerWriter(ledger_path)
    with MetaDb.open(tmp_path / "meta.db", tmp_path) as store:
        _write(store, ledger, "ticks", rows[:2])
        ledger.intent(2, "ticks", 1, 0)  # the process "died" after this write landed
        store.record("ticks", rows[2])
    ledger.close()

    def regenerate(path: Path, op_index: int, draws_at: int) -> list[tuple[str, dict[str, Any]]]:
        assert (path, op_index, draws_at) == (ledger_path, 2, 0)
        return [("ticks", rows[2])]

    result = _verify(tmp_path, [ledger_path], regenerate=regenerate)
    assert result.ok, result.to_dict()
    assert (result.indeterminate, result.indeterminate_rows_present) == (1, 1)
    # Without being able to regenerate the op, the same row is unaccounted: the oracle
    # never waves through a row it cannot tie to the op in flight.
    assert _verify(tmp_path, [ledger_path]).unaccounted == 1


class _DroppingStore(MetaDb):
    """A store double that acknowledges every write but silently drops one in a thousand."""

    calls = 0

    def record(self, table: str, row: Any) -> Any:
        _DroppingStore.calls += 1
        outcome = super().record(table, row)
        if _DroppingStore.calls % 1000 == 0:
            self.query(f"DELETE FROM {table} WHERE id = ?", (outcome.id,))
        return outcome


def test_oracle_catches_a_store_that_drops_one_write_in_a_thousand(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger" / "user-0.bin"
    ledger = LedgerWriter(ledger_path)
    options = StoreOptions(connection="long-lived", ids="block")
    with _DroppingStore.open(tmp_path / "meta.db", tmp_path, options) as store:
        _write(store, ledger, "ticks", _rows("ticks", 3000))
    ledger.close()
    result = _verify(tmp_path, [ledger_path])
    assert not result.ok
    assert result.missing == 3 and result.found == 2997


def test_ledger_longer_than_one_mapped_window_round_trips(tmp_path: Path) -> None:
    from stress.oracle.ledger import _WINDOW

    per_window = _WINDOW // 22
    path = tmp_path / "l.bin"
    ledger = LedgerWriter(path)
    for op_index in range(per_window + 10):
        ledger.outcome(op_index, "ticks", "persisted", (op_index + 1,), ('{"n":1}',))
    ledger.close()
    reopened = LedgerWriter(path)  # a restarted worker resumes after the last record
    reopened.intent(per_window + 10, "ticks", 1, 0)
    reopened.close()
    entries = list(read_ledger(path))
    assert len(entries) == per_window + 11
    assert [e.op_index for e in entries[per_window - 1 : per_window + 1]] == [
        per_window - 1,
        per_window,
    ]
    assert entries[-1].status == "intent"


def test_in_flight_intent_at_a_chunk_boundary_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    import stress.oracle.verify
    from stress.oracle.ledger import iter_ledger_chunks

    monkeypatch.setattr(
        stress.oracle.verify, "iter_ledger_chunks", functools.partial(iter_ledger_chunks, chunk=3)
    )
    rows = _rows("ticks", 4)
    ledger_path = tmp_path / "ledger" / "user-0.bin"
    ledger = LedgerWriter(ledger_path)
    with MetaDb.open(tmp_path / "meta.db", tmp_path) as store:
        _write(store, ledger, "ticks", rows[:1])  # records 0-1
        ledger.intent(1, "ticks", 1, 11)  # record 2: the last of the first chunk, in flight
        _write(store, ledger, "ticks", rows[1:3])  # records 3-6: ops 0-1 again (re-run)
    ledger.close()
    seen: list[tuple[int, int]] = []

    def regenerate(path: Path, op_index: int, draws_at: int) -> list[tuple[str, dict[str, Any]]]:
        seen.append((op_index, draws_at))
        return []

    result = _verify(tmp_path, [ledger_path], regenerate=regenerate)
    assert seen == [(1, 11)]
    assert result.ok and result.indeterminate == 1 and result.found == 3


_KILLED_MID_OUTCOME = """
import os, signal, sys
from pathlib import Path
import orjson
from stress.oracle.ledger import LedgerWriter
from stress.metadb import MetaDb, StoreOptions

home, ledger_file, recorded = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rows = orjson.loads(Path(sys.argv[4]).read_bytes())
ledger = LedgerWriter(ledger_file)
ledger.intent(5, "ticks", len(rows), 42)
with MetaDb.open(home / "meta.db", home, StoreOptions(ids="row")) as store:
    done = store.record_batch("ticks", rows)
assert done.status == "persisted", done
if recorded < 0:  # the restarted worker: the same op again, recorded whole
    ledger.outcome(5, "ticks", done.status, done.ids, done.row_jsons)
    ledger.close()
    sys.exit(0)
# The batch committed; the user had recorded only ``recorded`` of its rows when it died.
ledger.outcome(5, "ticks", done.status, done.ids[:recorded], done.row_jsons[:recorded])
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_kill_after_a_bulk_commit_before_every_row_is_recorded_is_in_flight(
    tmp_path: Path,
) -> None:
    """A real SIGKILL between a bulk op's commit and its last row record (issue 13, item 1).

    The restarted user re-runs the op (new ids). The first attempt's rows are all in the
    store, only some in the ledger: the op is in flight, its rows indeterminate, none
    unaccounted; the rows it did record were acknowledged and must be there.
    """
    import subprocess
    import sys

    import orjson

    rows = _rows("ticks", 40)
    rows_file = tmp_path / "rows.json"
    rows_file.write_bytes(orjson.dumps(rows))
    ledger_file = tmp_path / "ledger" / "user-0.bin"
    argv = [sys.executable, "-c", _KILLED_MID_OUTCOME, str(tmp_path), str(ledger_file)]
    killed = subprocess.run([*argv, "15", str(rows_file)], check=False)
    assert killed.returncode == -9
    restarted = subprocess.run([*argv, "-1", str(rows_file)], check=False)
    assert restarted.returncode == 0

    def regenerate(path: Path, op_index: int, draws_at: int) -> list[tuple[str, dict[str, Any]]]:
        assert (path, op_index, draws_at) == (ledger_file, 5, 42)
        return [("ticks", row) for row in rows]

    result = _verify(tmp_path, [ledger_file], regenerate=regenerate)
    assert result.ok, result.to_dict()
    assert result.unaccounted == 0 and result.missing == 0
    assert result.indeterminate == 1 and result.indeterminate_rows_present == 25
    assert result.acknowledged == result.found == 15 + 40


def _two_database_run(run_dir: Path) -> None:
    import io

    from stress.cli.main import main

    flags = {
        "output-dir": str(run_dir),
        "seed": "9",
        "users": "inserter=2",
        "databases": "2",
        "max-ops-per-user": "30",
        "think-min-ms": "0",
        "think-max-ms": "1",
        "batch-min": "1",
        "batch-max": "20",
        "max-cpu-percent": "100000",
    }
    argv = ["run"] + [part for name, value in flags.items() for part in (f"--{name}", value)]
    assert main(argv, out=io.StringIO()) == 0


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["header", "pages"])
def test_a_corrupt_database_is_reported_and_the_others_still_checked(
    tmp_path: Path, damage: str
) -> None:
    """Issue 13, item 9: a real corrupt file; verify goes on, writes its verdict, exits 1."""
    import io
    import json

    from stress.cli.main import main

    run_dir = tmp_path / "run"
    _two_database_run(run_dir)
    corrupt = run_dir / "db-0" / "meta.db"
    size = corrupt.stat().st_size
    with corrupt.open("r+b") as handle:
        # The header (file format string) or every page past the schema's: both real
        # corruptions, one refused at open, one met while reading the tables.
        handle.seek(0 if damage == "header" else 4096 * 2)
        handle.write(bytes(range(256)) * ((size if damage == "pages" else 4096) // 256))
    out = io.StringIO()
    code = main(["verify", str(run_dir)], out=out)
    written = json.loads((run_dir / "verification.json").read_text())
    assert code == 1, out.getvalue()
    assert not written["ok"] and written["unchecked"] > 0
    assert written["integrity"][str(run_dir / "db-1" / "meta.db")] == "ok"
    assert written["integrity"][str(corrupt)] != "ok"
    assert written["found"] > 0  # db-1's rows were still checked
    assert "unchecked (database unreadable)" in out.getvalue()
    assert all(text.startswith("db-0: ") for text in written["examples"]["unreadable"])


def test_examples_name_their_database(tmp_path: Path, written: Path) -> None:
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        conn.execute("INSERT INTO ticks (id, row_json) VALUES (999999, '{}')")
    database = DatabaseLedger(3, tmp_path / "meta.db", tmp_path, (written,))
    result = verify_databases([database])
    assert result.examples["unaccounted"] == ["db-3: ticks id 999999: no user wrote it"]


def test_an_op_committed_at_a_kill_then_spooled_on_its_rerun_is_in_flight_not_reingested(
    tmp_path: Path,
) -> None:
    """Seen in a kill+lock run: the first attempt committed and died unrecorded; the re-run
    met the lock and spooled. The store's copy is the in-flight attempt's, not a spool line
    re-ingested (no spool replay ever ran); the spooled copy is still in the spool."""
    rows = _rows("ticks", 5)
    ledger_path = tmp_path / "ledger" / "user-0.bin"
    ledger = LedgerWriter(ledger_path)
    ledger.intent(0, "ticks", len(rows), 7)
    with MetaDb.open(tmp_path / "meta.db", tmp_path) as store:
        store.record_batch("ticks", rows)  # committed; the process "died" here
    ledger.intent(0, "ticks", len(rows), 7)  # the restarted user's attempt
    locker = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    with MetaDb.open(tmp_path / "meta.db", tmp_path, StoreOptions(busy_timeout_ms=50)) as store:
        rerun = store.record_batch("ticks", rows)
    locker.execute("ROLLBACK")
    locker.close()
    assert rerun.status == "spooled" and rerun.ids == ()
    ledger.outcome(0, "ticks", rerun.status, rerun.ids, rerun.row_jsons)
    ledger.close()

    def regenerate(path: Path, op_index: int, draws_at: int) -> list[tuple[str, dict[str, Any]]]:
        return [("ticks", row) for row in rows]

    result = _verify(tmp_path, [ledger_path], regenerate=regenerate)
    assert result.ok, result.to_dict()
    assert (result.indeterminate, result.indeterminate_rows_present) == (1, 5)
    assert (result.reingested, result.spooled, result.unaccounted) == (0, 5, 0)


def test_an_in_flight_op_explains_one_copy_of_its_rows_not_two(tmp_path: Path) -> None:
    rows = _rows("ticks", 3)
    ledger_path = tmp_path / "ledger" / "user-0.bin"
    ledger = LedgerWriter(ledger_path)
    ledger.intent(0, "ticks", len(rows), 0)
    with MetaDb.open(tmp_path / "meta.db", tmp_path) as store:
        store.record_batch("ticks", rows)
        store.record_batch("ticks", rows)  # a store that wrote the batch twice
    ledger.close()

    def regenerate(path: Path, op_index: int, draws_at: int) -> list[tuple[str, dict[str, Any]]]:
        return [("ticks", row) for row in rows]

    result = _verify(tmp_path, [ledger_path], regenerate=regenerate)
    assert not result.ok
    assert (result.indeterminate_rows_present, result.unaccounted) == (3, 3)

"""The ``writer-loop`` strategy: group commits, honest acknowledgement, whole-group spooling.

Grouping is made certain without timing: a trace callback holds the first write (a caller
writing its own row at once, the connection being free) at its first statement (an Event, no
sleep) while the test queues more writes behind it, for the writer thread's next group.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from metadb_helpers import rows_by_id, tick

from stress.metadb import (
    EngineName,
    MetaDb,
    StoreOptions,
    WriteOutcome,
    iter_spool_lines,
    spool_files,
)
from stress.metadb.writer_loop import WriteRequest, WriterLoop


def _loop_of(store: MetaDb) -> WriterLoop:
    loop = store._loop
    assert loop is not None, "the handle has not used its writer loop yet"
    return loop


#: The first statement of a group's write: its transaction, or a lone row's autocommit insert
#: (an id lease's upsert is ``INSERT INTO ids``).
_GROUP_STARTS = ("BEGIN IMMEDIATE", "INSERT INTO ticks")


class _Gate:
    """A trace callback that holds the first group's write (once armed) at its first
    statement, until opened."""

    def __init__(self, armed: bool = True) -> None:
        self.armed = armed
        self.held = threading.Event()
        self.opened = threading.Event()

    def __call__(self, sql: str) -> None:
        if self.armed and sql.startswith(_GROUP_STARTS) and not self.held.is_set():
            self.held.set()
            assert self.opened.wait(30), "the test never opened the gate"


def _count_submits(loop: WriterLoop, wanted: int) -> threading.Event:
    """An Event set once ``wanted`` more writes have been queued on ``loop``."""
    queued, lock, count = threading.Event(), threading.Lock(), [0]
    submit = loop.submit

    def counting(table: str, row_jsons: list[str]) -> WriteRequest:
        request = submit(table, row_jsons)
        with lock:
            count[0] += 1
            if count[0] >= wanted:
                queued.set()
        return request

    loop.submit = counting  # type: ignore[method-assign]
    return queued


def _in_threads(work: Callable[[int], Any], count: int) -> list[Any]:
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_threads_writing_through_the_loop_find_every_acknowledged_row(
    db_path: Path, tmp_path: Path, engine: EngineName
) -> None:
    # The connection is used by whichever thread writes a group: callers and the writer
    # thread in turn, on both engines.
    MetaDb.open(db_path, tmp_path, StoreOptions(engine=engine)).close()
    options = StoreOptions(engine=engine, connection="writer-loop", ids="block", id_block_size=16)

    def writer(index: int) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        with MetaDb(db_path, tmp_path, options) as store:
            for n in range(60):
                outcomes.append(store.record("ticks", tick(f"w{index}-{n}")))
                if n % 20 == 0:
                    batch = store.record_batch(
                        "ticks", [tick(f"w{index}-{n}-b{k}") for k in range(5)]
                    )
                    assert batch.persisted
                    outcomes.extend(
                        WriteOutcome("ticks", "persisted", i, row_json=j)
                        for i, j in zip(batch.ids, batch.row_jsons, strict=True)
                    )
        return outcomes

    outcomes = [o for per_thread in _in_threads(writer, 8) for o in per_thread]
    assert all(o.persisted for o in outcomes)
    with MetaDb(db_path, tmp_path, StoreOptions(engine=engine)) as reader:
        stored = rows_by_id(reader, "ticks")
    assert len(outcomes) == 8 * (60 + 3 * 5) == len(stored)
    assert {o.id: o.row_json for o in outcomes} == stored


def test_a_lone_caller_writes_its_own_rows_with_no_hand_over(db_path: Path, tmp_path: Path) -> None:
    MetaDb.open(db_path, tmp_path).close()
    statements: list[tuple[str, str]] = []
    options = StoreOptions(
        connection="writer-loop",
        ids="rowid",
        trace=lambda sql: statements.append((threading.current_thread().name, sql)),
    )
    with MetaDb(db_path, tmp_path, options) as store:
        ids = [store.record("ticks", tick(f"s{n}")).id for n in range(20)]
        statements.clear()  # the connection's set-up
        assert store.record("ticks", tick("last")).persisted
        batch = store.record_batch("ticks", [tick("b0"), tick("b1")])
        loop = _loop_of(store)
        assert (loop.groups, loop.writes) == (22, 22)  # each a group of its own
    assert batch.persisted and len(set(ids)) == 20
    # Written in the caller's thread; a lone row is one autocommit INSERT, a batch one
    # transaction.
    assert {name for name, _ in statements} == {threading.current_thread().name}
    kinds = [sql.split()[0] for _, sql in statements]
    assert kinds == ["INSERT", "BEGIN", "SELECT", "INSERT", "INSERT", "COMMIT"], kinds


def test_writes_queued_behind_a_commit_share_the_next_group(db_path: Path, tmp_path: Path) -> None:
    MetaDb.open(db_path, tmp_path).close()
    gate = _Gate()
    options = StoreOptions(connection="writer-loop", ids="rowid", trace=gate)
    first = MetaDb(db_path, tmp_path, options)
    handles = [MetaDb(db_path, tmp_path, options) for _ in range(6)]
    leader = threading.Thread(target=first.record, args=("ticks", tick("first")))
    leader.start()
    assert gate.held.wait(30)
    loop = _loop_of(first)
    queued = _count_submits(loop, len(handles))
    followers = threading.Thread(
        target=lambda: _in_threads(lambda i: handles[i].record("ticks", tick(f"f{i}")), 6)
    )
    followers.start()
    assert queued.wait(30)
    gate.opened.set()
    leader.join(30)
    followers.join(30)

    assert (loop.groups, loop.writes) == (2, 7)
    with MetaDb(db_path, tmp_path) as reader:
        assert len(rows_by_id(reader, "ticks")) == 7
    for store in (first, *handles):
        store.close()


def test_a_group_that_meets_a_held_lock_is_spooled_whole(db_path: Path, tmp_path: Path) -> None:
    MetaDb.open(db_path, tmp_path).close()
    gate = _Gate(armed=False)
    options = StoreOptions(connection="writer-loop", ids="block", busy_timeout_ms=300, trace=gate)
    first = MetaDb(db_path, tmp_path, options)
    handles = [MetaDb(db_path, tmp_path, options) for _ in range(5)]
    assert first.record("ticks", tick("leased")).persisted  # this process leases its block
    gate.armed = True
    outcomes: list[WriteOutcome] = []
    leader = threading.Thread(target=lambda: outcomes.append(first.record("ticks", tick("a"))))
    leader.start()
    assert gate.held.wait(30)
    # Another process's transaction holds the write lock past the busy timeout.
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    queued = _count_submits(_loop_of(first), len(handles))
    followers = threading.Thread(
        target=lambda: outcomes.extend(
            _in_threads(lambda i: handles[i].record("ticks", tick(f"b{i}")), 5)
        )
    )
    followers.start()
    assert queued.wait(30)
    gate.opened.set()
    leader.join(30)
    followers.join(30)
    holder.execute("ROLLBACK")
    holder.close()

    assert _loop_of(first).groups == 3  # the lease's, the first write alone, then five
    assert [o.status for o in outcomes] == ["spooled"] * 6
    assert {o.error_class for o in outcomes} == {"lock_timeout"}
    spooled = [line.record for path in spool_files(tmp_path) for line in iter_spool_lines(path)]
    assert sorted(s["row_json"] for s in spooled if s) == sorted(o.row_json for o in outcomes)
    # Each spooled row keeps the id leased for it, committed before the group that failed.
    assert sorted(s["id"] for s in spooled if s) == sorted(o.id or 0 for o in outcomes)
    assert None not in {o.id for o in outcomes}
    with MetaDb(db_path, tmp_path) as reader:
        assert len(rows_by_id(reader, "ticks")) == 1  # the lease's write only
        assert reader.record("ticks", tick("after")).persisted
    for store in (first, *handles):
        store.close()


def test_a_write_the_engine_refuses_fails_alone_and_its_group_lands(
    db_path: Path, tmp_path: Path
) -> None:
    MetaDb.open(db_path, tmp_path).close()
    # Another writer took id 3 outside the allocator: the leased id 3 will collide.
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("INSERT INTO ticks (id, row_json) VALUES (3, '{}')")
    other.close()
    gate = _Gate(armed=False)
    options = StoreOptions(connection="writer-loop", ids="block", id_block_size=16, trace=gate)
    first = MetaDb(db_path, tmp_path, options)
    handles = [MetaDb(db_path, tmp_path, options) for _ in range(3)]
    assert first.record("ticks", tick("one")).id == 1  # leases ids 1-16
    gate.armed = True
    leader = threading.Thread(target=first.record, args=("ticks", tick("two")))
    leader.start()
    assert gate.held.wait(30)
    queued = _count_submits(_loop_of(first), 3)
    results: list[Any] = []

    def write(index: int) -> WriteOutcome | BaseException:
        try:
            return handles[index].record("ticks", tick(f"q{index}"))
        except sqlite3.IntegrityError as exc:
            return exc

    followers = threading.Thread(target=lambda: results.extend(_in_threads(write, 3)))
    followers.start()
    assert queued.wait(30)
    gate.opened.set()
    leader.join(30)
    followers.join(30)

    refused = [r for r in results if isinstance(r, sqlite3.IntegrityError)]
    landed = [r for r in results if isinstance(r, WriteOutcome)]
    assert len(refused) == 1  # the write that drew id 3, raised to its caller as before
    assert len(landed) == 2 and all(o.persisted for o in landed)
    with MetaDb(db_path, tmp_path) as reader:
        stored = rows_by_id(reader, "ticks")
    assert {o.id: o.row_json for o in landed}.items() <= stored.items()
    assert stored[3] == "{}" and len(stored) == 5  # one, two, the other's row, two landed
    for store in (first, *handles):
        store.close()


def test_a_write_not_yet_in_a_group_is_withdrawn_by_interrupt(
    db_path: Path, tmp_path: Path
) -> None:
    MetaDb.open(db_path, tmp_path).close()
    gate = _Gate()
    options = StoreOptions(connection="writer-loop", trace=gate)
    first, second = MetaDb(db_path, tmp_path, options), MetaDb(db_path, tmp_path, options)
    leader = threading.Thread(target=first.record, args=("ticks", tick("kept")))
    leader.start()
    assert gate.held.wait(30)
    queued = _count_submits(_loop_of(first), 1)
    outcome: list[WriteOutcome] = []
    waiting = threading.Thread(target=lambda: outcome.append(second.record("ticks", tick("x"))))
    waiting.start()
    assert queued.wait(30)
    second.interrupt()
    waiting.join(30)
    gate.opened.set()
    leader.join(30)

    assert (outcome[0].status, outcome[0].error_class) == ("failed", "interrupted")
    with MetaDb(db_path, tmp_path) as reader:
        sources = [json.loads(text)["source"] for text in rows_by_id(reader, "ticks").values()]
    assert sources == ["kept"]
    first.close()
    second.close()


_KILLED_CHILD = textwrap.dedent(
    """
    import re, sys, threading
    from pathlib import Path
    from stress.metadb import MetaDb, StoreOptions

    path, home = Path(sys.argv[1]), Path(sys.argv[2])
    seen = {"sources": [], "groups": 0}
    printing = threading.Lock()

    def say(line):
        with printing:  # whole lines: threads' prints would interleave their parts
            sys.stdout.write(line + chr(10))
            sys.stdout.flush()

    hold = threading.Event()

    def trace(sql):
        # The fourth group's COMMIT (a COMMIT after inserts, not an id reservation's) is held,
        # its rows inserted and not committed, until the parent kills the process. A lone
        # row's autocommit INSERT (no BEGIN before it) is committed by itself: not counted.
        if sql == "BEGIN IMMEDIATE":
            seen["sources"], seen["open"] = [], True
        elif sql.startswith("INSERT") and seen.get("open"):
            seen["sources"] += re.findall(r'"source":"([0-9]+-[0-9]+)"', sql)
        elif sql in ("COMMIT", "ROLLBACK"):
            seen["open"] = False
        if sql == "COMMIT" and seen["sources"]:
            seen["groups"] += 1
            if seen["groups"] == 4:
                say("IN-GROUP " + " ".join(seen["sources"]))
                hold.wait()
            seen["sources"] = []

    options = StoreOptions(connection="writer-loop", ids="row", trace=trace)

    def writer(n):
        with MetaDb(path, home, options) as store:
            for k in range(1000):
                outcome = store.record("ticks", {"ts_utc": "t", "source": f"{n}-{k}"})
                say(f"ACK {outcome.id} {n}-{k}")

    for n in range(4):
        threading.Thread(target=writer, args=(n,)).start()
    """
)


@pytest.mark.slow
def test_sigkill_mid_group_loses_no_acknowledged_write(db_path: Path, tmp_path: Path) -> None:
    MetaDb.open(db_path, tmp_path).close()
    acknowledged: dict[int, str] = {}
    in_group: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(db_path), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("IN-GROUP"):
                child.kill()  # SIGKILL, with the group's rows inserted and not committed
                in_group = line.split()[1:]
                break
            _, row_id, source = line.split()
            acknowledged[int(row_id)] = source
        child.wait(30)
    assert child.returncode == -9

    with MetaDb(db_path, tmp_path) as reader:
        stored = {i: json.loads(t)["source"] for i, t in rows_by_id(reader, "ticks").items()}
        assert reader.integrity_check() == ["ok"]
    assert acknowledged, "the child acknowledged nothing before the kill"
    assert in_group, "the held group had no rows"
    assert {i: stored.get(i) for i in acknowledged} == acknowledged
    # The group held at its commit died with the process: none of its rows were kept (and
    # none was acknowledged). Rows committed whose callers had not printed yet may be there.
    assert not set(in_group) & set(stored.values())
    assert not set(in_group) & set(acknowledged.values())

"""Block ids drawn by many threads of one process: every id once, on the real ``ids`` table.

Single ids are drawn from the process's shared lease without a lock; renewals and
multi-id takes hold it. These tests hammer the allocator itself (no rows written, so
thousands of draws race in a fraction of a second), each thread with its own connection to
a real file, its leases renewed by real ``BEGIN IMMEDIATE`` upserts.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from stress.metadb import MetaDb, ids
from stress.metadb.ids import make_allocator
from stress.metadb.inserts import transact

_THREADS = 8
_TAKES = 4000


def _draw(path: Path, key: str, block_size: int, mine: list[int]) -> None:
    allocator = make_allocator("block", key, block_size)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        for i in range(_TAKES):
            count = 3 if i % 4 == 3 else 1
            taken = allocator.take(conn, "ticks", count, transact)
            assert taken is not None and len(taken) == count
            mine.extend(taken)
    finally:
        conn.close()


@pytest.mark.parametrize("gil", [True, False], ids=["lock-free", "locked"])
def test_threads_draw_every_block_id_once(
    tmp_path: Path, switch_often: None, gil: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the GIL (a free-threaded Python) every id is drawn under the lock.
    monkeypatch.setattr(ids, "_GIL", gil)
    path = tmp_path / "meta.db"
    MetaDb.open(path, tmp_path).close()
    drawn: list[list[int]] = [[] for _ in range(_THREADS)]
    threads = [
        threading.Thread(target=_draw, args=(path, f"{path}#race", 64, mine)) for mine in drawn
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [row_id for mine in drawn for row_id in mine]
    assert len(every) == _THREADS * (_TAKES // 4 * 3 + _TAKES // 4 * 3)
    assert len(every) == len(set(every))
    # Every id lies inside the blocks the ids table handed out.
    with sqlite3.connect(path) as conn:
        (high,) = conn.execute("SELECT id FROM ids WHERE name = 'ticks'").fetchone()
    assert min(every) >= 1 and max(every) <= high

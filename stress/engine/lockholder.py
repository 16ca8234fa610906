"""The lock fault's other process: holds ``BEGIN IMMEDIATE`` on one database, then lets go.

Run as a script, ``python lockholder.py DB_PATH HOLD_S [ENGINE]`` (by path, never ``-m``:
importing the ``stress`` package would cost a few hundred ms of imports before the lock is
taken). ENGINE is ``sqlite`` (the standard library, the default) or ``turso-multiprocess-wal``
(pyturso with its experimental multi-process WAL, for a run whose every connection uses it: a
process opening without the flag would not be seen by the others). Its stdout, read by
:mod:`stress.engine.injector` once it has exited:

    locked <seconds it waited for the lock>
    released <seconds it held the lock>

A holder ended early (the run stopped first) prints only the first line; the operating
system drops the lock with the process, and the transaction, which wrote nothing, rolls back.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from typing import Any

#: How long the holder itself waits for the write lock, in ms: users' transactions are
#: short, so it gets it between two of them.
_HOLDER_BUSY_MS = 30_000
#: The engines the holder can open a file with.
ENGINES = ("sqlite", "turso-multiprocess-wal")


def _connect(path: str, engine: str) -> Any:
    if engine == "sqlite":
        return sqlite3.connect(path, timeout=_HOLDER_BUSY_MS / 1000, isolation_level=None)
    import turso

    conn = turso.connect(path, isolation_level=None, experimental_features="multiprocess_wal")
    conn.execute(f"PRAGMA busy_timeout = {_HOLDER_BUSY_MS}")
    return conn


def hold(path: str, hold_s: float, engine: str = "sqlite") -> None:
    started = time.perf_counter()
    conn = _connect(path, engine)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked = time.perf_counter()
        print(f"locked {locked - started:.6f}", flush=True)
        time.sleep(hold_s)
        conn.execute("ROLLBACK")
        print(f"released {time.perf_counter() - locked:.6f}", flush=True)
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] not in ENGINES):
        print(f"usage: lockholder.py DB_PATH HOLD_S [{'|'.join(ENGINES)}]", file=sys.stderr)
        return 2
    hold(argv[0], float(argv[1]), argv[2] if len(argv) == 3 else "sqlite")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

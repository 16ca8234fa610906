"""The lock fault's other process: holds ``BEGIN IMMEDIATE`` on one database, then lets go.

Run as a script, ``python lockholder.py DB_PATH HOLD_S`` (by path, never ``-m``: importing the
``stress`` package would cost a few hundred ms of imports before the lock is taken). It uses
only the standard library. Its stdout, read by :mod:`stress.engine.injector` once it has exited:

    locked <seconds it waited for the lock>
    released <seconds it held the lock>

A holder ended early (the run stopped first) prints only the first line; the operating
system drops the lock with the process, and the transaction, which wrote nothing, rolls back.
"""

from __future__ import annotations

import sqlite3
import sys
import time

#: How long the holder itself waits for the write lock, in ms: users' transactions are
#: short, so it gets it between two of them.
_HOLDER_BUSY_MS = 30_000


def hold(path: str, hold_s: float) -> None:
    started = time.perf_counter()
    conn = sqlite3.connect(path, timeout=_HOLDER_BUSY_MS / 1000, isolation_level=None)
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
    if len(argv) != 2:
        print("usage: lockholder.py DB_PATH HOLD_S", file=sys.stderr)
        return 2
    hold(argv[0], float(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Whether turso opens a database file and reads from it in bounded time, tried in a child.

pyturso 0.8.3's experimental multi-process WAL can leave its shared coordination file in a
state where a later open never returns (seen after a mixed deployment: one process opened
without the flag), or where opening panics and aborts the whole process (SIGABRT). A
verdict that hangs, or dies, is no verdict: the oracle first opens the file here, in a child
process it can kill, and reports a file the engine would not open as unreadable, saying why.

Run as ``python -m stress.metadb.openprobe PATH FLAGGED``: exit 0 once a read came back.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["OPEN_BOUND_S", "turso_open_problem"]

#: An open takes milliseconds; a loaded CI machine, with the child's start-up, some seconds.
OPEN_BOUND_S = 30.0


def turso_open_problem(path: Path, flagged: bool, bound_s: float | None = None) -> str | None:
    """None when turso opens ``path`` and reads its schema within ``bound_s`` (default
    :data:`OPEN_BOUND_S`); else why not.

    An open that fails with an error is not a problem here: the caller's own open raises it,
    with the engine's message, in the usual way. (A live process holding a POSIX lock on the
    coordination file, ``-tshm``, is one real way to make a flagged open hang.)
    """
    bound_s = OPEN_BOUND_S if bound_s is None else bound_s
    command = [sys.executable, "-m", __name__, str(path), "1" if flagged else "0"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=bound_s, check=False)
    except subprocess.TimeoutExpired:
        return f"turso did not open the file within {bound_s:g} s (the open hung; killed)"
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return f"turso died opening the file ({name})"
    return None


def _probe(path: str, flagged: bool) -> None:
    import turso

    features = "multiprocess_wal" if flagged else None
    conn = turso.connect(path, isolation_level=None, experimental_features=features)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        _probe(sys.argv[1], sys.argv[2] == "1")
    except Exception as exc:  # the caller's own open reports it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)

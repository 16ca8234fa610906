"""The guard of one sweep run: its process group dies with the process that started it.

Run as a script (``python -I -S guard.py FD -- COMMAND...``), not imported: it needs the
standard library only, so it starts in a few milliseconds and holds a few MB. The sweep's
runner starts it as the leader of a new session and keeps the writing end of a pipe whose
reading end is ``FD``. The guard starts ``COMMAND`` (``stress run``) in its own group and
waits for whichever comes first:

- the run exits: the guard exits the same way (its code, or death by the same signal), so the
  runner sees the run's own ending;
- the pipe reads end-of-file: the process holding the writing end is gone, however it died
  (a ``kill -9`` too, which no handler sees), so nobody enforces the run's timeout any more.
  The guard SIGKILLs its whole group: the run, its worker processes and lock holders, itself.

Why a guard and not ``PR_SET_PDEATHSIG``: that signal reaches only the direct child, not the
run's worker processes (forked from a forkserver), nor a process stopped in a hang; it fires
when the *thread* that forked exits, not the process; and setting it needs a ``preexec_fn``,
which Python documents as unsafe in a threaded process such as a Dask worker.
"""

from __future__ import annotations

import os
import select
import signal
import sys

#: How often the guard looks at both when the kernel has no pidfd (not Linux >= 5.3), in s.
_FALLBACK_POLL_S = 0.05


def _exit_like(status: int) -> None:
    """End this process as the run ended: its exit code, or the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


def _orphaned(fd: int, timeout_s: float | None) -> bool:
    """Whether the pipe reads end-of-file within ``timeout_s`` (None: however long)."""
    ready, _, _ = select.select([fd], [], [], timeout_s)
    return bool(ready) and os.read(fd, 1) == b""


def _guard(fd: int, command: list[str]) -> None:
    os.set_inheritable(fd, False)  # the run must not hold the pipe: only the guard reads it
    pid = os.posix_spawnp(command[0], command, dict(os.environ))
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    while True:
        if pidfd is not None:
            ready, _, _ = select.select([fd, pidfd], [], [])
            orphaned = fd in ready and os.read(fd, 1) == b""
        else:
            orphaned = _orphaned(fd, _FALLBACK_POLL_S)
        if orphaned:
            os.killpg(0, signal.SIGKILL)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            _exit_like(status)


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--" or not argv[1].isdigit():
        sys.exit(f"usage: {argv[0]} FD -- COMMAND...")
    if os.getpgrp() != os.getpid():
        # Its group would be its caller's: the kill would take the caller (a shell) with it.
        sys.exit(f"{argv[0]}: must lead a process group of its own (start it with setsid)")
    _guard(int(argv[1]), argv[3:])


if __name__ == "__main__":
    main(sys.argv)

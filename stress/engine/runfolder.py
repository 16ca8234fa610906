"""The run folder: made or taken by one run, held by it alone for the run's whole life.

A run writes its databases, ledgers, plans and both artifacts into one folder. Two runs in one
folder would write over each other's databases and ledgers, and each would then report the
other's rows as unaccounted, so a run holds an exclusive ``flock`` on ``<folder>/.lock`` from
before it writes anything until it has written its last artifact. The lock belongs to the open
file, so the kernel drops it when the run ends in any way (a ``kill -9`` included): there is no
stale lock to clean up. A folder that already holds a run (its ``replay.json``, written when a
run starts, or ``summary.json``) is refused too, finished or not.

Every way the path can be wrong (under a regular file, on a read-only file system, an
immutable folder, a folder in use) is one :class:`~stress.errors.ConfigError` line naming the
setting, the path and the fix, raised before anything is written.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stress.errors import ConfigError

__all__ = ["LOCK_NAME", "claim_run_folder"]

LOCK_NAME = ".lock"
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextmanager
def claim_run_folder(path: Path, setting: str, subfolders: tuple[str, ...] = ()) -> Iterator[Path]:
    """Make ``path`` (if need be), lock it for this run, and yield it; unlock on exit.

    ``setting`` names where the path came from (``STRESS_OUTPUT_DIR``, ``--output-dir``), so
    the error line says what to change. ``subfolders`` are made under the lock, so a folder
    that can be locked but not written (an immutable one) is refused here too.
    """
    _make(path, setting)
    if not (path / LOCK_NAME).exists():
        _refuse_used(path, setting)  # a folder of a run from before locks: add nothing to it
    fd = _lock(path, setting)
    try:
        # Under the lock: a run in the folder is refused as in use, not as unfinished.
        _refuse_used(path, setting)
        _record_owner(fd)
        for name in subfolders:
            _make(path / name, setting)
        yield path
    finally:
        os.close(fd)


def _make(path: Path, setting: str) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(setting, path, "is a file, not a folder; choose a new or empty folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        blocker = _file_above(path)
        raise ConfigError(
            setting,
            path,
            f"{blocker} is a file, so no folder can be made under it; choose a path under a folder",
        ) from None
    except OSError as exc:
        raise _unwritable(setting, path, exc) from None


def _file_above(path: Path) -> Path:
    """The first part of ``path`` that exists and is not a folder (what blocks ``mkdir``)."""
    for part in [*reversed(path.parents), path]:
        if part.exists() and not part.is_dir():
            return part
    return path


def _unwritable(setting: str, path: Path, exc: OSError) -> ConfigError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in _NOT_WRITABLE:
        fix = "choose a folder this user can write (e.g. one under /tmp)"
    else:
        fix = "choose another folder"
    return ConfigError(setting, path, f"cannot write there ({reason.lower()}); {fix}")


def _refuse_used(path: Path, setting: str) -> None:
    if (path / "summary.json").exists():
        held = "a finished run (summary.json)"
    elif (path / "replay.json").exists():
        held = "a run that did not finish (replay.json, no summary.json)"
    else:
        return
    raise ConfigError(
        setting,
        path,
        f"already holds {held}; choose an empty or new folder (stress verify checks the run in it)",
    )


def _lock(path: Path, setting: str) -> int:
    lock_path = path / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise _unwritable(setting, path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        who = f" (pid {owner})" if owner.isdigit() else ""
        raise ConfigError(
            setting,
            path,
            f"is in use by another run{who}; choose another folder, or wait for that run to end",
        ) from None
    except OSError as exc:
        os.close(fd)
        raise _unwritable(setting, path, exc) from None
    return fd


def _record_owner(fd: int) -> None:
    """Write this process's id into the lock file, for the message a second run prints."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)

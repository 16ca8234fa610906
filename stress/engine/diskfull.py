"""A full disk: the room a run keeps for its own verdict, and refusing a run with no room.

A run whose folder fills up must still say what happened: write ``summary.json`` and
``replay.json`` and let the oracle open every database. All three need disk, so a run takes
that room first, as a *reserve file* in its folder with its blocks allocated
(``posix_fallocate``, so a sparse file cannot pretend), and frees it only once the users have
stopped, just before the verdict is written. What the reserve is sized for
(:func:`reserve_bytes`):

- ``summary.json``: its long parts are capped (a results timeline of at most 2,000 entries,
  ~160 B each; a resource timeline of at most 1,000, ~150 B; at most 1,000 backpressure
  events, ~150 B; 100 error messages; 20 examples per verification problem), about 0.7 MB at
  most, plus ~600 B per user (a 4-user, 5-second run writes 16 KB);
- ``replay.json``: ~300 B per user, plus the op indexes of substitutions and skips;
- both are written atomically (a temporary file, then a rename), so for a moment a file and
  its replacement both exist: twice the above;
- the oracle's read-only open of each database builds the WAL index in the ``-shm`` file:
  32 KiB per 4,096 WAL pages; 256 KiB a database covers a 32 MB WAL left unmerged.

Twice 0.7 MB, plus 256 KiB a database, comes to about 2 MiB for a small run;
:func:`reserve_bytes` keeps a 4 MiB floor, which leaves room for anything else the end of a
run writes (the ledgers only shrink then). Only the substitution lists of a very long run
past its disk budget could outgrow it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stress.errors import DiskFullError
from stress.metadb import DISK_FULL, EngineError, is_no_room

__all__ = [
    "RESERVE_NAME",
    "ArtifactReserve",
    "refuse_on_full_disk",
    "reserve_bytes",
]

#: The reserve file's name in the run folder (hidden: it is not an artifact).
RESERVE_NAME = ".artifact-reserve"
_MB = 1 << 20
_FLOOR_BYTES = 4 * _MB
#: The capped parts of summary.json (see above); written atomically, so counted twice.
_SUMMARY_BYTES = 700 * 1024
_PER_DATABASE_BYTES = 256 * 1024
_PER_USER_BYTES = 600 + 300


def reserve_bytes(databases: int, users: int) -> int:
    """Bytes to keep for the artifacts and the oracle of a run of this shape (see above)."""
    artifacts = 2 * (_SUMMARY_BYTES + users * _PER_USER_BYTES)
    return max(_FLOOR_BYTES, artifacts + databases * _PER_DATABASE_BYTES)


class ArtifactReserve:
    """The reserve file of one run: allocated by :meth:`take`, freed by :meth:`release`."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    @classmethod
    def take(cls, run_dir: Path, size: int) -> ArtifactReserve:
        """Allocate ``size`` bytes in ``run_dir``; :class:`DiskFullError` when they do not fit."""
        path = run_dir / RESERVE_NAME
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError as exc:
            path.unlink(missing_ok=True)
            if not is_no_room(exc):
                raise
            raise DiskFullError(
                str(run_dir),
                f"no room for the {size / _MB:.1f} MB a run keeps to write its verdict "
                f"({_free_mb(run_dir):.1f} MB free); free some space or choose another "
                "--output-dir",
            ) from exc
        return cls(path, size)

    def release(self) -> None:
        """Free the reserve (again is a no-op): the artifacts and the oracle use the room."""
        self.path.unlink(missing_ok=True)


@contextmanager
def refuse_on_full_disk(run_dir: Path, doing: str, reserve: ArtifactReserve) -> Iterator[None]:
    """Turn a full disk met while ``doing`` (before users start) into :class:`DiskFullError`.

    Before the users start there is no run to record a finding in, so the run is refused with
    one line; the reserve is freed, so the folder does not keep holding the room.
    """
    try:
        yield
    except (EngineError, OSError) as exc:
        full = exc.error_class == DISK_FULL if isinstance(exc, EngineError) else is_no_room(exc)
        if not full:
            raise
        reserve.release()
        raise DiskFullError(
            str(run_dir), f"the disk filled up while {doing}: {exc}; free some space"
        ) from exc


def _free_mb(folder: Path) -> float:
    with contextlib.suppress(OSError):
        stats = os.statvfs(folder)
        return stats.f_bavail * stats.f_frsize / _MB
    return 0.0

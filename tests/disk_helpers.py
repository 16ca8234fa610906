"""A real small disk for tests: a tmpfs of a given size, mounted for the test and gone after.

Tests run as root; where mounting is refused the test is skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(point: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """Mount a ``size`` tmpfs (``"1m"``, ``"40m"``) at ``point``, read-only if asked; unmount
    it afterwards."""
    point.mkdir(exist_ok=True)
    options = f"ro,size={size}" if read_only else f"size={size}"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        if subprocess.run(["umount", str(point)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], check=False)  # busy: detach it


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def fill(folder: Path, leave: int = 0) -> None:
    """Take every free block of ``folder``'s file system but ``leave`` bytes (whole pages)."""
    take = free_bytes(folder) - leave
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        if take > 0:
            os.posix_fallocate(fd, 0, take)
    finally:
        os.close(fd)
    assert free_bytes(folder) == leave

"""The sweep's own errors: each one line naming what was wrong and the fix, exit 2."""

from __future__ import annotations

from stress.errors import DataFileError, StressError

__all__ = ["DaskMissingError", "SchedulerError", "SwarmBoundsError", "SweepFolderError"]


class DaskMissingError(StressError, ImportError):
    """``stress sweep`` was asked for without its optional extra installed."""

    exit_code = 2

    def __init__(self, missing: str) -> None:
        self.missing = missing
        super().__init__(
            f"stress sweep needs Dask ({missing} is not installed): "
            "pip install 'stress[sweep]' (or pip install 'dask[distributed]')"
        )


class SchedulerError(StressError, ConnectionError):
    """The Dask scheduler named by ``--scheduler`` could not be reached."""

    exit_code = 2

    def __init__(self, address: str, problem: str) -> None:
        self.address = address
        self.problem = problem
        super().__init__(
            f"--scheduler={address}: {problem}; start one with `dask scheduler` and pass its "
            "tcp://HOST:PORT, or leave --scheduler out for a local cluster"
        )


class SweepFolderError(StressError, ValueError):
    """The sweep's folder cannot be used as asked (in use, not a sweep, another sweep's)."""

    exit_code = 2

    def __init__(self, path: str, fix: str) -> None:
        self.path = path
        self.fix = fix
        super().__init__(f"{path}: {fix}")


class SwarmBoundsError(DataFileError):
    """A swarm bounds file cannot be used: names the file, the key and the fix."""

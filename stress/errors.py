"""The simulator's exception hierarchy.

Every error the simulator raises on purpose derives from :class:`StressError` and from the
builtin it resembles, so callers can catch either. Error data lives in attributes, and every
class survives pickling (workers send errors to the coordinator across processes).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "BundleError",
    "ConfigError",
    "DataFileError",
    "DiskFullError",
    "ProfileError",
    "ReplayError",
    "ReplayFormatError",
    "RunFolderError",
    "StressError",
]


class StressError(Exception):
    """Root of every error the simulator raises deliberately."""

    #: Exit code the CLI uses when this error ends a command.
    exit_code: int = 1

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with keyword-only constructors do not pickle by default; rebuild from args.
        return (_rebuild, (type(self), self.__dict__, self.args))


def _rebuild(cls: type[StressError], state: dict[str, Any], args: tuple[Any, ...]) -> StressError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(StressError, ValueError):
    """A configuration value is invalid: names the variable or flag, the value and the fix."""

    exit_code = 2

    def __init__(self, name: str, value: object, fix: str) -> None:
        self.name = name
        self.value = value
        self.fix = fix
        super().__init__(f"{name}={value!s}: {fix}")


class DataFileError(StressError, ValueError):
    """A TOML data file is invalid: names the file, the key and the fix."""

    exit_code = 2

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}")


class ProfileError(DataFileError):
    """A profile file is invalid: names the file, the key and the fix."""


class ReplayFormatError(StressError, ValueError):
    """A replay file cannot be read: wrong format version, bad JSON or a missing field."""

    exit_code = 2

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ReplayError(StressError, RuntimeError):
    """A replay ran but did not reproduce the recorded run."""

    exit_code = 1


class DiskFullError(StressError, OSError):
    """The run folder's file system has no room for a run to start (or to be prepared).

    Once users run, a full disk is a finding (``ResourceLimit``, cause ``disk``), not this.
    """

    exit_code = 1

    def __init__(self, folder: str, problem: str) -> None:
        self.folder = folder
        self.problem = problem
        super().__init__(f"{folder}: {problem}")


class RunFolderError(StressError, ValueError):
    """A path given as a run (or a soak's, a sweep's, a spool home) is not one, or not the
    kind asked for (a run that failed); ``folder`` may name the file inside it at fault."""

    exit_code = 2

    def __init__(self, folder: str | os.PathLike[str], problem: str) -> None:
        self.folder = str(folder)
        self.problem = problem
        super().__init__(f"{folder}: {problem}")


class BundleError(StressError, ValueError):
    """A failure bundle cannot be made or read: a bad name, a bundle that exists, a bad file."""

    exit_code = 2

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")

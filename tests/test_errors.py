"""Errors survive pickling with their attributes; the package's ``__all__`` is its API."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from types import ModuleType

import multiprocess.reduction
import pytest

import stress
import stress.errors
import stress.metadb.errors as metadb_errors
from stress.cli.main import StressUsage


def _sample_args(cls: type[BaseException]) -> list[object]:
    """Arguments for ``cls``: a number for an ``int`` parameter, a distinct string otherwise."""
    if cls.__init__ is BaseException.__init__:
        return ["a message"]
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [
        7 + index if "int" in str(p.annotation) else f"{p.name}-value"
        for index, p in enumerate(parameters)
    ]


def _error_classes() -> list[type[BaseException]]:
    """Every exception class the two error modules export, plus the CLI's usage error."""
    classes: list[type[BaseException]] = [StressUsage]
    for module in (stress.errors, metadb_errors):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                classes.append(value)
    return classes


ERRORS = [cls(*_sample_args(cls)) for cls in _error_classes()]

_DUMPS: list[Callable[[BaseException], bytes]] = [
    lambda e: pickle.dumps(e, protocol=0),
    lambda e: pickle.dumps(e, protocol=pickle.HIGHEST_PROTOCOL),
    # What a worker process uses to send an error to the coordinator.
    lambda e: bytes(multiprocess.reduction.ForkingPickler.dumps(e)),
]


def test_the_error_modules_export_what_the_docs_promise() -> None:
    names = {type(error).__name__ for error in ERRORS}
    assert {"StressError", "ConfigError", "ProfileError", "ReplayFormatError"} <= names
    assert {"MetaDbError", "EngineError", "InvalidRecordError", "SchemaTooNewError"} <= names


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("dumps", _DUMPS, ids=["pickle-0", "pickle-highest", "multiprocess"])
def test_errors_pickle_with_their_attributes(
    error: BaseException, dumps: Callable[[BaseException], bytes]
) -> None:
    copy = pickle.loads(dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)
    # The attributes hold the constructor's values, not just a formatted message.
    if type(error).__init__ is not BaseException.__init__ and vars(error):
        assert set(vars(error).values()) & set(_sample_args(type(error)))


def test_errors_inherit_the_matching_builtin_and_exit_code() -> None:
    config = stress.errors.ConfigError("STRESS_DURATION", -1, "must be above 0")
    assert isinstance(config, ValueError) and isinstance(config, stress.StressError)
    assert (config.name, config.value, config.fix, config.exit_code) == (
        "STRESS_DURATION",
        -1,
        "must be above 0",
        2,
    )
    assert isinstance(stress.errors.ReplayError("diverged"), RuntimeError)
    assert stress.errors.ReplayFormatError("r.json", "bad").exit_code == 2
    full = stress.errors.DiskFullError("runs/x", "no room")
    assert isinstance(full, OSError) and full.exit_code == 1 and str(full) == "runs/x: no room"
    unknown = metadb_errors.UnknownTableError("nope")
    assert isinstance(unknown, KeyError) and str(unknown) == "unknown table 'nope'"
    for error in ERRORS:
        if isinstance(error, stress.StressError):
            matching = ValueError | RuntimeError | OSError
            assert isinstance(error, matching) or type(error) is stress.StressError
        else:
            assert isinstance(error, metadb_errors.MetaDbError)


def _public_top_level_names(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }


def test_all_is_exactly_the_public_names_of_the_package() -> None:
    assert len(stress.__all__) == len(set(stress.__all__))
    # The names load on first use (PEP 562), so look each one up before listing them.
    for name in stress.__all__:
        assert getattr(stress, name) is not None
    assert set(stress.__all__) == _public_top_level_names(stress)
    namespace: dict[str, object] = {}
    exec("from stress import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(stress.__all__)
    assert isinstance(stress.__version__, str)

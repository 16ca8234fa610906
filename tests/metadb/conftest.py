"""Fixtures of the meta.db tests: the engine parameter and a store factory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from metadb_helpers import TURSO_MISSING, TURSO_SKIP_REASON, StoreFactory

from stress.metadb import EngineName, MetaDb, StoreOptions

needs_turso = pytest.mark.skipif(TURSO_MISSING, reason=TURSO_SKIP_REASON)

ENGINE_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("turso", id="turso", marks=needs_turso),
]


@pytest.fixture(params=ENGINE_PARAMS)
def engine(request: pytest.FixtureRequest) -> EngineName:
    """Each engine in turn; turso is skipped, with the reason, when pyturso is missing."""
    name: EngineName = request.param
    return name


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "meta.db"


@pytest.fixture
def open_store(db_path: Path, tmp_path: Path) -> Iterator[StoreFactory]:
    """``open_store(**options)``: a migrated handle on ``db_path`` with home ``tmp_path``."""
    opened: list[MetaDb] = []

    def _open(**options: Any) -> MetaDb:
        store = MetaDb.open(db_path, tmp_path, StoreOptions(**options))
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def switch_often() -> Iterator[None]:
    """The interpreter hands the GIL to another thread every microsecond, not every 5 ms, so
    races between threads show in a short test."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)

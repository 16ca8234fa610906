"""MetaDb.interrupt(): a statement in flight stops, from another thread, on both engines and
both connection shapes; an interrupted write is rolled back and failed, never persisted, and not
spooled (its caller gave it up)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from metadb_helpers import StoreFactory, tick

from stress.metadb import EngineError, EngineName, MetaDb, spool_stats


@contextmanager
def _interrupting(store: MetaDb, every_s: float = 0.005) -> Iterator[None]:
    """Interrupt ``store`` over and over from another thread (as a stopping worker does)."""
    done = threading.Event()

    def hammer() -> None:
        while not done.wait(every_s):
            store.interrupt()

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.mark.parametrize("connection", ["per-op", "long-lived"])
def test_an_interrupted_batch_is_rolled_back_and_failed_never_persisted_nor_spooled(
    open_store: StoreFactory, engine: EngineName, connection: str, tmp_path: Path
) -> None:
    store = open_store(engine=engine, connection=connection)
    rows = [tick(f"source-{index}") for index in range(60_000)]

    with _interrupting(store):
        outcome = store.record_batch("ticks", rows)

    assert (outcome.status, outcome.error_class) == ("failed", "interrupted")
    assert not outcome.persisted and len(outcome.row_jsons) == 60_000 and outcome.ids == ()
    assert store.query("SELECT count(*) FROM ticks").rows == [(0,)]
    assert spool_stats(tmp_path).lines == 0
    # The handle works again once nobody interrupts it.
    assert store.record("ticks", tick("after")).persisted


def test_an_interrupted_query_raises_its_class(
    open_store: StoreFactory, engine: EngineName
) -> None:
    store = open_store(engine=engine)
    endless = (
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 100000000) "
        "SELECT count(*) FROM r"
    )
    with _interrupting(store), pytest.raises(EngineError) as caught:
        store.query(endless)

    assert caught.value.error_class == "interrupted"


def test_interrupt_with_nothing_in_flight_does_nothing(open_store: StoreFactory) -> None:
    store = open_store(connection="long-lived")
    store.interrupt()
    assert store.record("ticks", tick("calm")).persisted

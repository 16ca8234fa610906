"""Reading a store for the oracle: a damaged file that answers out of order, a panic's words.

``data/rowids-out-of-order.db.gz`` is a real file: a turso run with one process opened
without the multi-process WAL flag among flagged ones (the mixed-deployment test) left it
so. SQLite's own ``integrity_check`` says "Rowid 122 out of order"; both engines answer
``ORDER BY id`` on its ``ticks`` and ``cli_invocations`` tables out of order, and reading
on from a chunk's last id went round the same rows for ever (125,000 chunks in four
minutes, in a CI run).
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import shutil
from pathlib import Path

import pytest

from stress.metadb import MetaDb, StoreOptions
from stress.oracle.storeread import DisorderedRead, _panic, store_chunks
from stress.oracle.verify import DatabaseLedger, verify_databases

_DAMAGED = Path(__file__).parent / "data" / "rowids-out-of-order.db.gz"


def _damaged(folder: Path) -> Path:
    path = folder / "meta.db"
    with gzip.open(_DAMAGED, "rb") as packed, path.open("wb") as out:
        shutil.copyfileobj(packed, out)
    return path


def test_a_table_read_out_of_order_stops_with_a_reason_not_a_loop(tmp_path: Path) -> None:
    path = _damaged(tmp_path)
    chunks = 0
    store = MetaDb(path, tmp_path, StoreOptions(read_only=True))
    with store, pytest.raises(DisorderedRead, match=r"ticks: the engine returned ids out of"):
        for _ in store_chunks(store, "ticks"):
            chunks += 1
    assert chunks == 0  # the first chunk is already out of order


@pytest.mark.parametrize(
    "options",
    [
        StoreOptions(read_only=True),
        pytest.param(
            StoreOptions(engine="turso", read_only=True, multiprocess_wal=True),
            marks=pytest.mark.skipif(
                importlib.util.find_spec("turso") is None, reason="pyturso is not installed"
            ),
        ),
    ],
    ids=["sqlite, in process", "turso, in a child"],
)
def test_the_oracle_calls_such_a_file_unreadable(tmp_path: Path, options: StoreOptions) -> None:
    path = _damaged(tmp_path)
    result = verify_databases([DatabaseLedger(0, path, tmp_path, ())], options=options)
    assert not result.ok
    state = result.integrity[str(path)]
    assert re.fullmatch(r"unreadable: \w+: the engine returned ids out of order .*", state)

# What pyturso 0.8.3 printed on stderr when it panicked reading a file its experimental
# multi-process WAL had left (a local run of the mixed-deployment test), shortened.
_STDERR = """
thread '<unnamed>' panicked at core/storage/wal.rs:5458:17:
read bytes does not match expected buffer length | read=0, expected=4096, frame_id=1
stack backtrace:
   0: __rustc::rust_begin_unwind
"""


def test_a_panic_on_stderr_is_quoted_by_place_and_message(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.txt"
    stderr.write_text(_STDERR)
    assert _panic(stderr) == (
        ": panicked at core/storage/wal.rs:5458:17: read bytes does not match expected buffer"
        " length | read=0, expected=4096, frame_id=1"
    )


def test_no_panic_and_no_stderr_add_nothing(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.txt"
    stderr.write_text("Traceback (most recent call last):\n  ...\nKeyboardInterrupt\n")
    assert _panic(stderr) == ""
    assert _panic(tmp_path / "absent.txt") == ""

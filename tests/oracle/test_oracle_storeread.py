"""What a child read says when the engine panicked: the panic's place and message."""

from __future__ import annotations

from pathlib import Path

from stress.oracle.storeread import _panic

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

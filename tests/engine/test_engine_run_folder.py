"""The run folder: one run at a time, and every bad path is one line, exit 2, nothing written.

On the real thing: a second ``stress run`` process against a running one, a lock held by
another process, a path under a regular file, a read-only tmpfs mount, an immutable folder
(``chattr +i``), and ``stress replay`` of a folder. Mounts and chattr need root; the tests
skip, saying why, where they are refused.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from disk_helpers import tmpfs
from engine_processes import RUNNING, read_until, reaped, run_cli, start_run

from stress.cli.main import main
from stress.engine.runfolder import LOCK_NAME

_QUICK_RUN = ("--users", "query=1", "--max-ops-per-user", "2", "--databases", "1")


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its content (None for folders)."""
    return {
        str(path.relative_to(folder)): None if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


def _one_line_error(err: str, *parts: str) -> None:
    assert err.count("\n") == 1, err
    assert err.startswith("ConfigError: "), err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


@pytest.mark.slow
def test_a_second_run_into_a_folder_in_use_is_refused_and_the_first_still_verifies(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    first = start_run(
        tmp_path,
        run_dir,
        *("--duration", "60", "--processes", "0", "--log-interval", "0.2", "--seed", "3"),
        *("--users", "inserter=1,mixed=1", "--databases", "2"),
        *("--batch-min", "1", "--batch-max", "50"),
    )
    with reaped(first):
        read_until(first, RUNNING)
        second = run_cli(tmp_path, "run", "--output-dir", str(run_dir), *_QUICK_RUN)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert second.returncode == 2, second.stdout + second.stderr
    _one_line_error(
        second.stderr, f"--output-dir={run_dir}", f"in use by another run (pid {first.pid})"
    )
    assert second.stdout == ""
    assert first.returncode == 130
    # Had the second run seeded or written anything, the first would find unaccounted rows.
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verification"]["ok"], summary["verification"]
    assert summary["verification"]["unaccounted"] == 0
    assert sorted(p.name for p in run_dir.glob("db-*")) == ["db-0", "db-1"]


def test_a_folder_locked_by_another_process_gets_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_NAME).write_text("4242\n")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'r+'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(run_dir / LOCK_NAME),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        before = _tree(run_dir)
        assert main(["run", "--output-dir", str(run_dir), *_QUICK_RUN]) == 2
    finally:
        holder.communicate(input="", timeout=10)
    _one_line_error(capsys.readouterr().err, str(run_dir), "in use by another run (pid 4242)")
    assert _tree(run_dir) == before


def test_a_killed_runs_folder_is_refused_not_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "replay.json").write_text('{"stop_reason": null}\n')
    before = _tree(run_dir)
    assert main(["run", "--output-dir", str(run_dir), *_QUICK_RUN]) == 2
    _one_line_error(capsys.readouterr().err, "a run that did not finish", "stress verify")
    assert _tree(run_dir) == before


@pytest.mark.parametrize("depth", ["file/run", "file"], ids=["under-a-file", "is-a-file"])
def test_an_output_path_at_or_under_a_regular_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], depth: str
) -> None:
    (tmp_path / "file").write_text("not a folder\n")
    before = _tree(tmp_path)
    target = tmp_path / depth
    assert main(["run", "--output-dir", str(target), *_QUICK_RUN]) == 2
    _one_line_error(capsys.readouterr().err, str(target), "is a file")
    assert _tree(tmp_path) == before


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs (skips where mounting is refused, e.g. not root)."""
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as point:
        yield point


@pytest.mark.parametrize("inside", ["", "run"], ids=["the-mount", "a-new-folder-in-it"])
def test_a_read_only_file_system_is_one_line(
    read_only_mount: Path, capsys: pytest.CaptureFixture[str], inside: str
) -> None:
    target = read_only_mount / inside if inside else read_only_mount
    assert main(["run", "--output-dir", str(target), *_QUICK_RUN]) == 2
    _one_line_error(capsys.readouterr().err, str(target), "read-only file system")
    assert list(read_only_mount.iterdir()) == []


@pytest.fixture
def immutable_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder with the immutable attribute (skips where chattr is refused)."""
    folder = tmp_path / f"immutable-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    made = subprocess.run(
        ["chattr", "+i", str(folder)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot make a folder immutable here: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_immutable_folder_is_one_line(
    immutable_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--output-dir", str(immutable_folder), *_QUICK_RUN]) == 2
    _one_line_error(capsys.readouterr().err, str(immutable_folder), "cannot write there")
    assert list(immutable_folder.iterdir()) == []


def test_replay_of_a_folder_is_one_line_naming_the_file_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "some-run"
    folder.mkdir()
    assert main(["replay", str(folder), "--output-dir", str(tmp_path / "replay")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ReplayFormatError: "), err
    assert f"is a folder; pass the replay.json in it: {folder / 'replay.json'}" in err
    assert not (tmp_path / "replay").exists()

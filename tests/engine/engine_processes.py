"""Real ``python -m stress`` processes for the engine tests: start, watch, wait with a deadline.

Not a test module: the tests import it by name (pytest puts this folder on ``sys.path``).
Every wait polls a real process or file against a deadline; none sleeps and hopes.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: A progress line that shows work done, e.g. ``[ 0.4s / 1m00s ] 1,234 ops  ...``.
RUNNING = re.compile(rb"^\[ [^]]+ \] [1-9][0-9,]* ops ", re.MULTILINE)
START_TIMEOUT_S = 60.0


def clean_env() -> dict[str, str]:
    """This process's environment without any STRESS_* variable."""
    return {name: value for name, value in os.environ.items() if not name.startswith("STRESS_")}


def stress(*args: str) -> list[str]:
    return [sys.executable, "-m", "stress", *args]


def start_run(cwd: Path, run_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """``stress run --output-dir RUN_DIR ARGS`` with stdout and stderr piped."""
    return subprocess.Popen(
        stress("run", "--output-dir", str(run_dir), *args),
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@contextmanager
def reaped(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """``process``, killed if still running on the way out, its pipes closed, its status read."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        for stream in (process.stdout, process.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        process.wait()


def run_cli(cwd: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """A ``stress`` command run to its end, its output captured as text."""
    return subprocess.run(
        stress(*args),
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_until(
    process: subprocess.Popen[bytes], pattern: re.Pattern[bytes], timeout: float = START_TIMEOUT_S
) -> bytes:
    """Read the process's stdout until ``pattern`` shows; returns what was read."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while not pattern.search(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"{pattern.pattern!r} not seen after {timeout}s:\n{seen.decode()}"
        ready, _, _ = select.select([process.stdout], [], [], left)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"the process ended before {pattern.pattern!r}:\n{seen.decode()}"
            seen += chunk
    return seen


def read_to_eof(stream: object, timeout: float) -> bytes:
    """Everything a pipe gives until every process holding its writing end has exited."""
    fileno = stream.fileno()  # type: ignore[attr-defined]
    seen = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the pipe was still open after {timeout}s:\n{seen.decode()}"
        ready, _, _ = select.select([fileno], [], [], left)
        if ready:
            chunk = os.read(fileno, 65536)
            if not chunk:
                return seen
            seen += chunk


def wait_for(check: Callable[[], bool], timeout: float, poll_s: float = 0.02) -> float:
    """Poll ``check`` until true; the seconds it took. Fails the test after ``timeout``."""
    started = time.monotonic()
    while not check():
        waited = time.monotonic() - started
        assert waited < timeout, f"not true after {timeout}s: {check}"
        time.sleep(poll_s)  # polling a real process's files, against the deadline above
    return time.monotonic() - started


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, their children, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited while we looked
            # The command name (field 2) may hold spaces: the parent pid follows its ')'.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"

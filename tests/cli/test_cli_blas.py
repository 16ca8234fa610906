"""The CLI runs numpy with one BLAS thread, unless the user asked for more."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stress.cli.blas import BLAS_THREAD_VARIABLES

_THREADS_AFTER_NUMPY = (
    "import os\n"
    "from stress.cli.blas import one_blas_thread\n"
    "one_blas_thread()\n"
    "import numpy\n"
    "print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])\n"
)


def _threads(extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES} | extra
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_AFTER_NUMPY],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_numpy_loads_with_no_blas_pool_and_a_users_choice_is_kept() -> None:
    assert _threads({}) == "1 1"  # the main thread alone: no pool started
    if (os.cpu_count() or 1) >= 2:
        assert _threads({"OPENBLAS_NUM_THREADS": "2"}) == "2 2"

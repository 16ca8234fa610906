"""Process-shared flags and the monitor benchmark's command."""

from __future__ import annotations

import io
import pickle

import orjson
import pytest

from stress.cli.main import main
from stress.controls import SharedFlag


def test_a_shared_flag_behaves_like_an_event() -> None:
    cells = bytearray(3)
    flag = SharedFlag(cells, 1)
    assert not flag.is_set()
    assert flag.wait(0) is False
    flag.set()
    assert flag.is_set() and cells == bytearray([0, 1, 0])
    assert flag.wait(0) is True and flag.wait(None) is True
    flag.clear()
    assert not flag.is_set()


def test_a_shared_flag_pickles_with_its_cell() -> None:
    flag = SharedFlag(bytearray([0, 0, 1]), 2)
    copy = pickle.loads(pickle.dumps(flag))
    assert copy.is_set()


@pytest.mark.slow
def test_bench_monitor_prints_its_figures_as_json() -> None:
    out = io.StringIO()
    code = main(
        [
            "bench",
            "monitor",
            "--processes",
            "2",
            "--duration",
            "1",
            "--interval-ms",
            "50",
            "--json",
        ],
        out=out,
    )
    assert code == 0
    figures = orjson.loads(out.getvalue())
    assert figures["processes"] == 2 and figures["samples"] >= 5
    assert figures["process_labels"] >= 3  # coordinator and two workers, at least
    assert 0 <= figures["cpu_share"] < 1
    assert figures["mean_sample_ms"] > 0


def test_bench_monitor_rejects_a_bad_count() -> None:
    assert main(["bench", "monitor", "--processes", "many"], out=io.StringIO()) == 2

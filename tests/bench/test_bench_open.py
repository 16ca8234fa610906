"""``stress bench open`` on small sizes: the table's shape, the JSON keys, the failure column
from a real store that acknowledges writes it skips, and no cold file left behind."""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from stress.bench.figures import StoreChoices
from stress.bench.openwrite import JSON_KEYS, OVERHEAD_JSON_KEYS, OpenPlan, run_plan
from stress.cli.main import main
from stress.metadb import MetaDb, Record, WriteOutcome


class SkipsEveryOtherWrite(MetaDb):
    """A real store that reports every other write persisted without making it."""

    calls: ClassVar[itertools.count[int]] = itertools.count()

    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        if next(self.calls) % 2:
            return WriteOutcome(table, "persisted", None)
        return super().record(table, row)


def test_markdown_has_both_scenarios_and_the_cold_overhead() -> None:
    out = io.StringIO()
    assert main(["bench", "open", "--iterations", "3"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("stress bench open: sqlite ")
    assert "| scenario | iterations | landed | median ms | p95 ms | failure |" in lines[2]
    rows = [line for line in lines if line.startswith("| sqlite |")]
    assert [row.split(" | ")[4] for row in rows] == ["cold first-write", "warm open-write"]
    for row in rows:
        cells = row.split(" | ")
        assert (cells[5], cells[6], cells[-1]) == ("3", "3", "none |")  # iterations, landed
    assert lines[-1].startswith("- sqlite per-op row (threads): the cold median overhead was ")


@pytest.mark.slow
def test_json_has_stable_keys_in_both_modes(tmp_path: Path) -> None:
    for mode in ("threads", "processes"):
        out = io.StringIO()
        argv = ["bench", "open", "--iterations", "2", "--mode", mode, "--json"]
        assert main(argv, out=out) == 0
        document = orjson.loads(out.getvalue())
        assert list(document) == ["run", "scenarios", "cold_overhead"]
        assert [tuple(s) for s in document["scenarios"]] == [JSON_KEYS] * 2
        assert all(s["landed"] == 2 and s["mode"] == mode for s in document["scenarios"])
        (overhead,) = document["cold_overhead"]
        assert tuple(overhead) == OVERHEAD_JSON_KEYS
        cold, warm = document["scenarios"]
        assert overhead["cold_overhead_ms"] == pytest.approx(
            cold["median_ms"] - warm["median_ms"], abs=0.002
        )


def test_writes_acknowledged_but_not_in_the_file_fill_the_failure_column() -> None:
    SkipsEveryOtherWrite.calls = itertools.count()
    plan = OpenPlan(StoreChoices(store=SkipsEveryOtherWrite), iterations=4)
    result = run_plan(plan, lambda line: None)
    for scenario in result.scenarios:
        assert scenario.landed == 2
        assert scenario.failure == "2 of 4 writes not in the file"


@pytest.mark.parametrize("engine", ["sqlite", "turso"])
def test_cold_files_and_their_sidecars_are_removed(tmp_path: Path, engine: str) -> None:
    if engine == "turso":
        pytest.importorskip("turso")  # an optional extra
    wal = ["--turso-multiprocess-wal"] if engine == "turso" else []
    argv = ["bench", "open", "--iterations", "2", "--engine", engine, "--dir", str(tmp_path)]
    assert main([*argv, *wal], out=io.StringIO()) == 0
    (home,) = tmp_path.iterdir()
    left = sorted(path.name for path in home.iterdir())
    assert [name for name in left if name.startswith("cold-")] == []
    assert "warm.db" in left


def test_a_bad_iteration_count_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "open", "--iterations", "none"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "ConfigError: --iterations=none: must be a whole number, at least 1\n"

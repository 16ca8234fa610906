"""``stress bench load`` on small sizes: the tables' shape, the JSON keys, and the failure
column caught by a real store wrapper that acknowledges writes it never makes."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from stress.bench.figures import StoreChoices, percentile_ms
from stress.bench.load import READ_JSON_KEYS, READ_QUERIES, WRITE_JSON_KEYS, LoadPlan, run_plan
from stress.cli.main import main
from stress.metadb import ANALYTICS, MetaDb, Record, WriteOutcome

SMALL = ["--writers", "2", "--write-seconds", "0.2", "--write-rates", "100", "--readers", "2",
         "--read-seconds", "0.2", "--read-rates", "5,10", "--read-rows", "50"]  # fmt: skip


class DroppingStore(MetaDb):
    """A real store that says every third write persisted and makes none of them."""

    def record(self, table: str, row: Record | Mapping[str, Any]) -> WriteOutcome:
        self.writes = getattr(self, "writes", 0) + 1
        if self.writes % 3 == 0:
            return WriteOutcome(table, "persisted", None)
        return super().record(table, row)


def test_the_original_percentile_takes_the_rounded_rank() -> None:
    assert percentile_ms([], 0.5) == 0.0
    assert percentile_ms([4.0, 1.0, 3.0, 2.0], 0.5) == 3.0  # rank round(1.5) = 2, half up
    assert percentile_ms([float(i) for i in range(1, 101)], 0.99) == 99.0


def test_the_four_read_queries_are_the_stores_own() -> None:
    assert all(name in ANALYTICS for name in READ_QUERIES)


def test_markdown_has_both_tables_and_a_run_statement() -> None:
    out = io.StringIO()
    assert main(["bench", "load", *SMALL], out=out) == 0
    text = out.getvalue()
    assert text.startswith("stress bench load: sqlite ")
    assert "workers as threads" in text.splitlines()[0]
    assert "## writer-heavy" in text and "## reader-heavy" in text
    assert "| target ops per s | persisted ops per s | rows persisted |" in text
    rows = [line for line in text.splitlines() if line.startswith("| sqlite |")]
    assert len(rows) == 3  # one write rate, two read rates
    assert all(line.endswith("| none |") for line in rows)


@pytest.mark.slow
def test_json_has_stable_keys_in_both_modes() -> None:
    for mode in ("threads", "processes"):
        out = io.StringIO()
        assert main(["bench", "load", *SMALL, "--mode", mode, "--json"], out=out) == 0
        document = orjson.loads(out.getvalue())
        assert list(document) == ["run", "writer_heavy", "reader_heavy"]
        assert f"workers as {mode}" in document["run"]
        write = document["writer_heavy"][0]
        assert tuple(write) == WRITE_JSON_KEYS and write["mode"] == mode
        assert write["rows_attempted"] == 20 == write["rows_persisted"]
        assert [tuple(r) for r in document["reader_heavy"]] == [READ_JSON_KEYS] * 2


def test_a_store_that_drops_writes_fails_as_silent_write_loss() -> None:
    plan = LoadPlan(
        choices=StoreChoices(store=DroppingStore),
        writers=2, write_seconds=0.3, write_rates=(100,), read_rates=(), read_rows=1,
    )  # fmt: skip
    result = run_plan(plan, lambda line: None)
    (sample,) = result.writes
    assert sample.rows_attempted == 30
    assert sample.rows_persisted < sample.rows_attempted and sample.spool_rows == 0
    assert sample.failure == "silent write loss"


def test_a_bad_mode_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "load", "--mode", "fibers"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ConfigError: --mode=fibers: choose one of threads, processes"
    ]

"""``stress bench reads`` on small sizes: the tables' shape, the JSON keys, and read errors
counted from a real store whose reads are refused."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pytest

from stress.bench.figures import StoreChoices
from stress.bench.reads import QUERIES, QUERY_JSON_KEYS, WRITE_JSON_KEYS, ReadsPlan, run_plan
from stress.bench.reads import format_markdown as reads_markdown
from stress.cli.main import main
from stress.metadb import EngineError, MetaDb, QueryResult

SMALL = ["--writers", "2", "--seconds", "0.6", "--interval-ms", "100"]


class RefusingReads(MetaDb):
    """A real store whose every other query fails as a locked engine would."""

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> QueryResult:
        self.reads = getattr(self, "reads", 0) + 1
        if self.reads % 2 == 0:
            raise EngineError(self.options.engine, "locked", "refused by the test double")
        return super().query(sql, params)


def test_markdown_has_the_query_table_the_writes_and_a_run_statement() -> None:
    out = io.StringIO()
    assert main(["bench", "reads", *SMALL], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("stress bench reads: sqlite ")
    assert "workers as threads; 2 writers x 0.6 s" in lines[0]
    assert "| query | samples | median ms | p95 ms | p99 ms | max ms | read errors |" in lines[2]
    queries = [line for line in lines if line.startswith("| sqlite |") and "_" in line]
    assert [line.split(" | ")[4] for line in queries] == list(QUERIES)
    assert all(line.endswith("| 0 |") for line in queries)


@pytest.mark.slow
def test_json_has_stable_keys_in_both_modes() -> None:
    for mode in ("threads", "processes"):
        out = io.StringIO()
        assert main(["bench", "reads", *SMALL, "--mode", mode, "--json"], out=out) == 0
        document = orjson.loads(out.getvalue())
        assert list(document) == ["run", "queries", "writes"]
        assert f"workers as {mode}" in document["run"]
        assert [tuple(q) for q in document["queries"]] == [QUERY_JSON_KEYS] * 2
        assert all(q["samples"] >= 1 and q["mode"] == mode for q in document["queries"])
        (writes,) = document["writes"]
        assert tuple(writes) == WRITE_JSON_KEYS
        assert writes["messages_rows"] > 0 and writes["clone_dispatches_rows"] > 0
        assert writes["write_errors"] == 0 == writes["spool_rows"]


def test_refused_reads_are_counted_as_read_errors_and_named() -> None:
    plan = ReadsPlan(StoreChoices(store=RefusingReads), writers=1, seconds=0.6, interval_ms=100)
    result = run_plan(plan, lambda line: None)
    for sample in result.queries:
        # The reader runs once every 100 ms from the start: 6 attempts, every other refused.
        assert sample.samples + sample.read_errors == 6
        assert sample.read_errors == 3
    assert "most often EngineError: sqlite: locked: refused by the test double" in (
        reads_markdown(result)
    )


def test_a_bad_interval_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "reads", "--interval-ms", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "ConfigError: --interval-ms=0: must be a number, at least 1\n"

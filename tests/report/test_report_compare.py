"""``stress compare``: a planted slowdown of one op is marked, on that op.

Run B is run A again (same seed, same settings) with its schema-DDL op slowed by a test double
that sleeps 40 ms before the real op: the only change is that one op's service time.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import run, small_settings

from stress.cli.main import main
from stress.engine import operations
from stress.report.compare import compare_runs

pytestmark = pytest.mark.slow

_SLOWED = "schema_ddl"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("compare")
    settings = {"max_ops_per_user": 40, "processes": 0}
    before = run(small_settings(folder / "a", **settings))
    real = operations._schema_ddl

    def slow_schema_ddl(*args: Any) -> Any:
        time.sleep(0.04)  # the planted slowdown, not a wait for anything
        return real(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "_schema_ddl", slow_schema_ddl)
        after = run(small_settings(folder / "b", **settings))
    assert before.exit_code == after.exit_code == 0
    ops = before.summary["results"]["latency_by_op"]
    assert ops[_SLOWED]["count"] >= 3, "too few schema-DDL ops to compare"
    return before.run_dir, after.run_dir


def test_the_slowed_op_is_marked_and_is_the_one_that_changed_most(
    two_runs: tuple[Path, Path],
) -> None:
    comparison = compare_runs(*two_runs, threshold_pct=10.0)
    p50 = {row.name: row for row in comparison.rows if row.metric == "p50_ms"}
    assert p50[_SLOWED].mark == "regression"
    assert p50[_SLOWED].after >= 40.0
    ops = [name for name in p50 if "/" not in name]
    worst = max(ops, key=lambda name: p50[name].change_pct or 0.0)
    assert worst == _SLOWED, {name: p50[name].change_pct for name in ops}
    assert comparison.config_changes == []


def test_the_command_exits_1_on_a_regression_only_when_asked(two_runs: tuple[Path, Path]) -> None:
    a, b = map(str, two_runs)
    out = io.StringIO()
    assert main(["compare", a, b, "--json", "--fail-on-regression"], out=out) == 1
    document = json.loads(out.getvalue())
    marked = {(r["name"], r["metric"]) for r in document["rows"] if r["mark"] == "regression"}
    assert (_SLOWED, "p50_ms") in marked
    assert main(["compare", a, b], out=io.StringIO()) == 0
    same = io.StringIO()
    assert (
        main(["compare", a, str(Path(a) / "summary.json"), "--fail-on-regression"], out=same) == 0
    )
    assert "0 regression(s) marked" in same.getvalue()
    text = io.StringIO()
    main(["compare", a, b], out=text)
    line = next(
        x for x in text.getvalue().splitlines() if x.startswith(f"{_SLOWED} ") and "p50_ms" in x
    )
    assert line.endswith("<< REGRESSION")


def test_bad_input_is_one_line_and_exit_2(
    two_runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = str(two_runs[0])
    assert main(["compare", a, str(tmp_path)], out=io.StringIO()) == 2
    assert main(["compare", a, a, "--threshold-pct", "-5"], out=io.StringIO()) == 2
    broken = tmp_path / "summary.json"
    broken.write_text("{", encoding="utf-8")
    assert main(["compare", a, str(broken)], out=io.StringIO()) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and "Traceback" not in "".join(lines)
    assert lines[0].startswith("RunFolderError: ") and "no summary.json here" in lines[0]
    assert lines[1].startswith("ConfigError: --threshold-pct=-5.0")

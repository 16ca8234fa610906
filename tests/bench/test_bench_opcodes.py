"""``stress bench opcodes``: bytecodes per op by part, the same on every run of one tree."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from stress.bench.opcodes import OPCODE_PARTS, OpcodesPlan, _part_of, count_opcodes
from stress.bench.overhead import bench_profile
from stress.cli.main import main
from stress.metadb import StoreOptions


def test_counts_are_deterministic_and_every_part_runs(tmp_path: Path) -> None:
    profile = bench_profile(tmp_path)
    options = StoreOptions(connection="long-lived", ids="block")
    first = count_opcodes(OpcodesPlan(ops=60), profile, options)
    second = count_opcodes(OpcodesPlan(ops=60), profile, options)
    assert first == second
    per_op = first["bytecodes_per_op"]
    assert list(per_op) == list(OPCODE_PARTS)
    assert all(per_op[part] > 0 for part in OPCODE_PARTS), per_op
    own = sum(per_op[part] for part in ("digest", "loop", "ledger", "stats"))
    assert first["own_bytecodes_per_op"] == pytest.approx(own, abs=0.2)


def test_code_is_charged_to_its_part() -> None:
    assert _part_of("/x/stress/metadb/store.py", "record") == "store"
    assert _part_of("/x/stress/plan/workload.py", "update") == "digest"
    assert _part_of("/x/stress/plan/workload.py", "next_op") == "plan"
    assert _part_of("/x/stress/oracle/ledger.py", "intent") == "ledger"
    assert _part_of("/x/stress/observe/stats.py", "record_op") == "stats"
    assert _part_of("/x/stress/engine/users.py", "_run_one") == "loop"
    assert _part_of("/usr/lib/python3.11/contextlib.py", "__enter__") is None


def test_the_command_prints_json_and_refuses_a_bad_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    assert main(["bench", "opcodes", "--ops", "20", "--json"], out=out) == 0
    document = orjson.loads(out.getvalue())
    assert document["ops"] == 20 and set(document["bytecodes_per_op"]) == set(OPCODE_PARTS)
    assert main(["bench", "opcodes", "--ops", "3"], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err == "ConfigError: --ops=3: must be a whole number, at least 10\n"

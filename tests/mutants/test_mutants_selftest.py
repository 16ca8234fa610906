"""`stress selftest` on real runs: every mutant is caught by its check, and signatures name
the bug, not the seed."""

from __future__ import annotations

import io
import json

import pytest

from stress.cli.main import main
from stress.mutants import selftest_mutants
from stress.selftest import SelftestRow, format_selftest, run_selftest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows() -> list[SelftestRow]:
    return run_selftest(seed=1)


def test_every_mutant_is_caught_by_the_check_it_names(rows: list[SelftestRow]) -> None:
    print("\n" + format_selftest(rows))
    assert [row.mutant.split(":")[0] for row in rows] == selftest_mutants()
    missed = [(row.mutant, row.expected, row.check) for row in rows if not row.caught]
    assert missed == []


def test_two_mutants_have_two_signatures(rows: list[SelftestRow]) -> None:
    signatures = [row.signature for row in rows]
    assert None not in signatures
    assert len(set(signatures)) == len(rows), format_selftest(rows)


@pytest.mark.parametrize("mutant", ["drop-write", "ack-before-commit"])
def test_two_seeds_failing_with_one_mutant_have_one_signature(
    rows: list[SelftestRow], mutant: str
) -> None:
    # Other rows were hit, in other numbers (the counts differ), and the signature is one.
    first = next(row for row in rows if row.mutant.startswith(mutant))
    (second,) = run_selftest(seed=2, mutants=[mutant])
    assert second.caught and second.signature == first.signature


def test_the_command_prints_the_table_and_exits_0_when_all_are_caught() -> None:
    out = io.StringIO()
    assert main(["selftest", "--only", "phantom-row", "--seed", "3"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["mutant", "caught", "check", "signature", "seconds"]
    assert lines[1].split()[:3] == ["phantom-row:10", "yes", "unaccounted"]
    assert lines[-1] == "all 1 mutants caught"
    json.dumps(lines)  # plain text only

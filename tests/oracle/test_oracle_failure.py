"""The oracle's canonical choice of a failure's check and table (no runs: findings by hand)."""

from __future__ import annotations

from stress.artifacts import ReplayFile
from stress.engine.failure import error_class_of
from stress.oracle.failure import CHECK_PRIORITY, data_failure
from stress.oracle.verify import SPOOL_CHECK, UNIQUE_IDS_CHECK, Verification
from stress.signature import Check

#: Never read: every finding below has unknown ops, so no op is regenerated.
_NO_REPLAY = ReplayFile.model_construct()


def _verification(found: dict[str, list[str]]) -> Verification:
    result = Verification()
    for check, tables in found.items():
        for table in tables:
            result.findings[check].add(table, None)
    return result


def test_the_most_specific_failed_check_names_the_failure() -> None:
    both = _verification({Check.MISSING: ["ticks"], UNIQUE_IDS_CHECK: ["ticks"]})
    chosen = data_failure(both, _NO_REPLAY)
    assert chosen is not None and chosen.check == UNIQUE_IDS_CHECK
    assert CHECK_PRIORITY.index(SPOOL_CHECK) < CHECK_PRIORITY.index(Check.MISSING)


def test_one_table_is_named_and_several_are_not_whatever_the_rows() -> None:
    one = data_failure(_verification({Check.MISSING: ["ticks", "ticks"]}), _NO_REPLAY)
    several = data_failure(_verification({Check.MISSING: ["ticks", "messages"]}), _NO_REPLAY)
    other = data_failure(_verification({Check.MISSING: ["sessions", "token_usage"]}), _NO_REPLAY)
    assert one is not None and one.table == "ticks"
    assert several is not None and other is not None
    # Two seeds hitting different tables of a defect of every table: one answer.
    assert several == other and several.table is None and several.op is None


def test_nothing_failed_is_no_failure() -> None:
    assert data_failure(Verification(), _NO_REPLAY) is None


def test_an_error_class_is_a_class_never_a_message() -> None:
    traceback = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        "stress.errors.ConfigError: row 1234 at /tmp/abc failed\n"
    )
    assert error_class_of(traceback) == "ConfigError"
    assert error_class_of("workers not ready within 30 s") == "workers not ready within N s"
    assert error_class_of("worker 3 raised:\nTraceback ...\nKeyError: 7") == "KeyError"

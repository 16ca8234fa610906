"""The failure signature: stable, made of its parts only, and different when a part differs."""

from __future__ import annotations

import re

import pytest

from stress.outcomes import StopReason
from stress.signature import SIGNATURE_HEX, Check, FailureParts, invariant_check, is_check


def _missing_ticks() -> FailureParts:
    return FailureParts(StopReason.INVARIANT, Check.MISSING, "single_insert", "ticks", None)


def test_a_signature_is_a_short_hex_hash_of_the_parts() -> None:
    signature = _missing_ticks().signature()
    assert re.fullmatch(f"[0-9a-f]{{{SIGNATURE_HEX}}}", signature)
    # Built again from plain strings (as read back from summary.json): the same signature.
    again = FailureParts("InvariantViolation", "missing", "single_insert", "ticks", None)
    assert again.signature() == signature
    assert again == _missing_ticks()


def test_the_signature_is_pinned_so_old_bundles_keep_matching() -> None:
    # A change of the hash or of the canonical form would orphan every kept bundle.
    parts = _missing_ticks()
    assert parts.canonical() == (
        '{"check":"missing","error_class":null,"op":"single_insert",'
        '"stop_reason":"InvariantViolation","table":"ticks"}'
    )
    assert parts.signature() == "dbda529daea3"


@pytest.mark.parametrize(
    "changed",
    [
        FailureParts(StopReason.CRASH, Check.MISSING, "single_insert", "ticks", None),
        FailureParts(StopReason.INVARIANT, Check.UNACCOUNTED, "single_insert", "ticks", None),
        FailureParts(StopReason.INVARIANT, Check.MISSING, "bulk_insert", "ticks", None),
        FailureParts(StopReason.INVARIANT, Check.MISSING, "single_insert", "messages", None),
        FailureParts(StopReason.INVARIANT, Check.MISSING, "single_insert", "ticks", "busy"),
        FailureParts(StopReason.INVARIANT, Check.MISSING, None, "ticks", None),
    ],
)
def test_any_part_that_differs_makes_another_signature(changed: FailureParts) -> None:
    assert changed.signature() != _missing_ticks().signature()


def test_readable_names_the_parts() -> None:
    assert _missing_ticks().readable() == "InvariantViolation/missing ticks via single_insert"
    crash = FailureParts(StopReason.HARNESS, Check.HARNESS_ERROR, error_class="KeyError")
    assert crash.readable() == "HarnessError/harness_error (KeyError)"


def test_a_named_invariant_is_a_check_of_its_own() -> None:
    retention = invariant_check("retention")
    assert retention == "invariant:retention"
    assert is_check(retention) and is_check("invariant") and is_check("missing")
    named = FailureParts(StopReason.INVARIANT, retention)
    plain = FailureParts(StopReason.INVARIANT, Check.INVARIANT)
    assert named.signature() != plain.signature()


@pytest.mark.parametrize("bad", ["lost", "invariant:", "invariant:Has Space", "MISSING", ""])
def test_a_check_outside_the_vocabulary_is_refused(bad: str) -> None:
    assert not is_check(bad)
    with pytest.raises(ValueError, match="check"):
        FailureParts(StopReason.INVARIANT, bad)


def test_an_unknown_stop_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="stop_reason 'Exploded'"):
        FailureParts("Exploded", Check.CRASH)
    with pytest.raises(ValueError, match="invariant name"):
        invariant_check("Bad/Name")


_WIDE = FailureParts(StopReason.INVARIANT, Check.MISSING, op="bulk_insert")


@pytest.mark.parametrize(
    "found",
    [
        _WIDE,
        FailureParts(StopReason.INVARIANT, Check.MISSING, "bulk_insert", "ticks"),
    ],
)
def test_the_same_failure_in_fewer_tables_narrows_it(found: FailureParts) -> None:
    assert found.narrows(_WIDE)


@pytest.mark.parametrize(
    "found",
    [
        FailureParts(StopReason.INVARIANT, Check.MISSING, "single_insert", "ticks"),  # other op
        FailureParts(StopReason.INVARIANT, Check.UNACCOUNTED, "bulk_insert", "ticks"),
        FailureParts(StopReason.CRASH, Check.MISSING, "bulk_insert"),
        FailureParts(StopReason.INVARIANT, Check.MISSING, "bulk_insert", error_class="x"),
        FailureParts(StopReason.INVARIANT, Check.MISSING),  # wider than the target: not it
    ],
)
def test_anything_else_does_not_narrow_it(found: FailureParts) -> None:
    assert not found.narrows(_WIDE)


def test_a_named_table_is_narrowed_only_by_itself() -> None:
    ticks = FailureParts(StopReason.INVARIANT, Check.MISSING, "bulk_insert", "ticks")
    messages = FailureParts(StopReason.INVARIANT, Check.MISSING, "bulk_insert", "messages")
    assert ticks.narrows(ticks) and not messages.narrows(ticks)


def test_the_parts_of_a_summarys_failure_block_hash_to_its_signature() -> None:
    block = {
        "signature": _WIDE.signature(),
        "stop_reason": "InvariantViolation",
        "check": "missing",
        "op": "bulk_insert",
        "table": None,
        "error_class": None,
        "detail": "InvariantViolation/missing via bulk_insert; 3 rows wrong",
    }
    assert (
        FailureParts.of(block) == _WIDE and FailureParts.of(block).signature() == block["signature"]
    )

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

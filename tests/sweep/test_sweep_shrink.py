"""``--shrink``: the fastest failing run of each signature goes to ``stress shrink``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stress.sweep.results import FailureGroup
from stress.sweep.shrink import shrink_available, shrink_fastest


def _group(run_dir: Path | None, outcome: str = "fail") -> FailureGroup:
    return FailureGroup(
        signature="abcdefabcdef", count=2, first_seed=3, fastest_seed=5, fastest_seconds=1.5,
        outcome=outcome, stop_reason="InvariantViolation", detail="missing",
        run_dir=None if run_dir is None else str(run_dir), host="here",
    )


@pytest.mark.slow
def test_the_hook_hands_the_fastest_run_to_stress_shrink_or_says_it_cannot(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    shrink_fastest([_group(tmp_path)], out)
    if shrink_available():
        assert out.getvalue().startswith(f"shrink abcdefabcdef: stress shrink {tmp_path}\n")
    else:
        assert out.getvalue() == (
            f"shrink: this stress has no `stress shrink`; kept {tmp_path} "
            "(signature abcdefabcdef) for it\n"
        )
    assert tmp_path.is_dir()


def test_a_timeout_or_a_folder_elsewhere_is_not_shrunk(tmp_path: Path) -> None:
    out = io.StringIO()
    shrink_fastest([_group(tmp_path, "timeout"), _group(tmp_path / "on-another-host")], out)
    assert out.getvalue() == "shrink: no failing run folder here to shrink\n"

"""Results: failures grouped by signature, the progress line, sweep.ndjson read back."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from sweep_helpers import small_plan

from stress.sweep.errors import SweepFolderError
from stress.sweep.outcome import RunResult, failure_of, fallback_signature
from stress.sweep.progress import Progress, format_eta
from stress.sweep.results import failure_groups, format_failures, sweep_folder


def _result(seed: int, outcome: str = "pass", signature: str | None = None, secs: float = 1.0):
    return RunResult(
        seed=seed,
        config_digest="0" * 12,
        outcome=outcome,  # type: ignore[arg-type]
        exit_code=0 if outcome == "pass" else 1,
        signature=signature,
        stop_reason=None if outcome == "pass" else "InvariantViolation",
        seconds=secs,
        ops=10,
        run_dir=None if outcome == "pass" else f"/sweep/runs/seed-{seed}",
        host="here",
        detail=None if outcome == "pass" else "missing rows",
    )


def test_failures_group_by_signature_with_first_and_fastest_seed() -> None:
    results = [
        _result(1),
        _result(9, "fail", "aaaaaaaaaaaa", secs=5.0),
        _result(4, "fail", "aaaaaaaaaaaa", secs=7.0),
        _result(12, "fail", "aaaaaaaaaaaa", secs=2.0),
        _result(3, "timeout", "bbbbbbbbbbbb", secs=60.0),
    ]
    first, second = failure_groups(results)
    assert (first.signature, first.count, first.first_seed, first.fastest_seed) == (
        "aaaaaaaaaaaa", 3, 4, 12,
    )
    assert (second.signature, second.count, second.outcome) == ("bbbbbbbbbbbb", 1, "timeout")
    table = format_failures([first, second])
    assert "stress replay /sweep/runs/seed-12/replay.json" in table
    assert format_failures([]) == "failures     none\n"


def test_a_summary_without_a_failure_block_gets_a_signature_from_its_stop_reason(
    tmp_path: Path,
) -> None:
    (tmp_path / "summary.json").write_bytes(orjson.dumps({"stop_reason": "Stalled"}))
    stop, signature, _ = failure_of(tmp_path)
    assert (stop, signature) == ("Stalled", fallback_signature("stop_reason", "Stalled"))
    assert failure_of(tmp_path / "gone")[1] == fallback_signature("no summary.json")
    (tmp_path / "summary.json").write_bytes(
        orjson.dumps({"stop_reason": "Stalled", "failure": {"signature": "0123456789ab"}})
    )
    assert failure_of(tmp_path)[1] == "0123456789ab"


def test_the_progress_line_counts_runs_and_estimates_the_time_left() -> None:
    clock = [100.0]
    out = io.StringIO()
    progress = Progress(10, lambda: clock[0], out, interval_s=5.0, earlier=2)
    clock[0] = 160.0
    progress.record(failed=False)  # 60 s since the start: due
    progress.record(failed=True)  # a failure prints at once
    assert out.getvalue().splitlines() == [
        "sweep  3/10 done  0 failing  1.0 runs/min  ETA 7m00s",
        "sweep  4/10 done  1 failing  2.0 runs/min  ETA 3m00s",
    ]
    clock[0] = 161.0
    progress.record(failed=False)  # within the interval: nothing
    assert out.getvalue().count("\n") == 2
    assert (format_eta(42), format_eta(7325)) == ("42s", "2h02m")


def test_resume_reads_the_results_back_and_drops_a_line_cut_short(tmp_path: Path) -> None:
    plan = small_plan(tmp_path / "sweep", range(0, 5))
    with sweep_folder(plan) as (earlier, log):
        assert earlier == []
        log.append(_result(0))
        log.append(_result(1, "fail", "cccccccccccc"))
    ndjson = tmp_path / "sweep" / "sweep.ndjson"
    with ndjson.open("ab") as handle:
        handle.write(b'{"seed": 2, "config_dig')  # the sweep was killed mid-line
    with pytest.raises(SweepFolderError, match="already holds a sweep"), sweep_folder(plan):
        pass
    resumed = small_plan(tmp_path / "sweep", range(0, 5), resume=True)
    with sweep_folder(resumed) as (earlier, _):
        assert [result.seed for result in earlier] == [0, 1]
    assert ndjson.read_bytes().endswith(b"\n")
    other = small_plan(tmp_path / "sweep", range(0, 5), resume=True, duration_s=9.0)
    with pytest.raises(SweepFolderError, match="duration_s differ"), sweep_folder(other):
        pass


def test_a_second_sweep_into_a_running_sweeps_folder_is_refused(tmp_path: Path) -> None:
    plan = small_plan(tmp_path / "sweep", range(0, 2))
    second = small_plan(tmp_path / "sweep", range(0, 2), resume=True)
    with (
        sweep_folder(plan),
        pytest.raises(SweepFolderError, match="another sweep is running"),
        sweep_folder(second),
    ):
        pass

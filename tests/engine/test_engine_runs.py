"""Whole runs in threads and in processes: stop reasons, artifacts, counts, the rows stored."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import (
    json_rows,
    limits_of,
    planned_ops,
    recorded_profiles,
    run,
    scratch_tables,
    small_settings,
)

from stress.artifacts import read_replay_file, schema_errors
from stress.cli.main import main
from stress.config import Settings
from stress.engine.runner import SEED_ROWS_PER_TABLE, RunOutcome
from stress.errors import ConfigError
from stress.metadb import JSON_TABLES
from stress.plan.profiles import OpKind
from stress.replay.run import replay_run

OPS_PER_USER = 25
#: Seconds of a duration run. The clock starts before worker processes exist, and starting
#: one (imports included) takes about half a second, so the process runs get longer.
DURATION_S = {0: 0.6, 2: 1.2}
_INSERTS = (OpKind.SINGLE_INSERT, OpKind.BULK_INSERT)


class _Runs:
    """Each (processes, mode) run made once per module and shared by its tests."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._done: dict[tuple[int, str], tuple[Settings, RunOutcome]] = {}

    def get(self, processes: int, mode: str) -> tuple[Settings, RunOutcome]:
        key = (processes, mode)
        if key not in self._done:
            folder = self._factory.mktemp(f"run-{processes}-{mode}") / "run"
            bound = (
                {"duration": DURATION_S[processes]}
                if mode == "duration"
                else {"max_ops_per_user": OPS_PER_USER}
            )
            settings = small_settings(folder, processes=processes, **bound)
            self._done[key] = (settings, run(settings))
        return self._done[key]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> _Runs:
    return _Runs(tmp_path_factory)


def _expected_from_plans(settings: Settings, outcome: RunOutcome) -> dict[str, Any]:
    """What the run must have done, regenerated from the seed and the recorded counts."""
    profiles = recorded_profiles(outcome.replay)
    inserted_by_db: Counter[int] = Counter()
    kinds: Counter[str] = Counter()
    ddl_rows = 0
    for user in outcome.replay["users"]:
        substituted = set(user["substitutions"])
        profile = profiles[user["class"]]
        for op in planned_ops(
            outcome.global_seed, user["user_id"], profile, limits_of(settings), user["ops_executed"]
        ):
            if op.index in substituted:
                kinds[OpKind.SIMPLE_SELECT.value] += 1
                continue
            kinds[op.kind.value] += 1
            if op.kind in _INSERTS:
                inserted_by_db[user["database_idx"]] += len(op.rows)
            elif op.kind is OpKind.SCHEMA_DDL:
                ddl_rows += op.ddl_rows
    return {"inserted_by_db": inserted_by_db, "ddl_rows": ddl_rows, "kinds": dict(kinds)}


def _check_store_matches_the_plans(settings: Settings, outcome: RunOutcome) -> None:
    results = outcome.summary["results"]
    assert results["failed_operations"] == 0, results["errors"]
    expected = _expected_from_plans(settings, outcome)
    assert results["operations_by_type"] == expected["kinds"]
    inserted = sum(expected["inserted_by_db"].values())
    # Scratch rows of schema-DDL ops count as inserted but are dropped with their table.
    assert results["total_rows_inserted"] == inserted + expected["ddl_rows"]
    for index in range(settings.databases):
        db = outcome.run_dir / f"db-{index}" / "meta.db"
        seeded = SEED_ROWS_PER_TABLE * len(JSON_TABLES)
        assert json_rows(db) == seeded + expected["inserted_by_db"][index]
        assert scratch_tables(db) == []


@pytest.mark.parametrize("processes", [0, 2], ids=["threads", "processes"])
@pytest.mark.parametrize("mode", ["duration", "ops"])
def test_a_run_ends_cleanly_with_valid_artifacts(runs: _Runs, processes: int, mode: str) -> None:
    _, outcome = runs.get(processes, mode)
    expected_reason = "DurationElapsed" if mode == "duration" else "OpLimitReached"
    assert (outcome.stop_reason, outcome.exit_code) == (expected_reason, 0)
    summary = json.loads((outcome.run_dir / "summary.json").read_text())
    replay = json.loads((outcome.run_dir / "replay.json").read_text())
    assert schema_errors(summary, "summary") == []
    assert schema_errors(replay, "replay") == []
    assert (summary["stop_reason"], summary["exit_code"]) == (expected_reason, 0)
    assert summary["harness_errors"] == []
    assert summary["config"]["processes"] == processes
    assert read_replay_file(outcome.run_dir / "replay.json").global_seed == outcome.global_seed
    assert [u["user_id"] for u in replay["users"]] == [0, 1, 2, 3]
    assert {u["process_idx"] for u in replay["users"]} == ({0} if processes == 0 else {0, 1})


@pytest.mark.parametrize("processes", [0, 2], ids=["threads", "processes"])
@pytest.mark.parametrize("mode", ["duration", "ops"])
def test_counts_add_up_and_the_store_holds_every_planned_row(
    runs: _Runs, processes: int, mode: str
) -> None:
    settings, outcome = runs.get(processes, mode)
    users = outcome.summary["users"]
    ops = [u["ops_executed"] for u in users]
    assert ops == [u["ops_executed"] for u in outcome.replay["users"]]
    if mode == "ops":
        assert ops == [OPS_PER_USER] * 4
    else:
        assert outcome.summary["results"]["actual_duration_secs"] >= DURATION_S[processes]
        # Threads start at once; worker processes may, on a loaded machine, still be
        # starting when the time is up, so only the thread run must have done work.
        if processes == 0:
            assert min(ops) > 0
    results = outcome.summary["results"]
    assert results["total_operations"] == sum(ops) == sum(results["operations_by_type"].values())
    for user in outcome.replay["users"]:
        digests = outcome.run_dir / user["op_digests"]
        assert digests.stat().st_size == 8 * user["ops_executed"]
    _check_store_matches_the_plans(settings, outcome)


def test_timing_never_shifts_a_users_digests(runs: _Runs) -> None:
    """A duration run in threads and a by-count run in processes hash the same op prefixes."""
    _, timed = runs.get(0, "duration")
    _, counted = runs.get(2, "ops")
    compared = 0
    for user in counted.replay["users"]:
        timed_digests = (timed.run_dir / user["op_digests"]).read_bytes()
        counted_digests = (counted.run_dir / user["op_digests"]).read_bytes()
        common = min(len(timed_digests), len(counted_digests))
        assert common >= 8
        assert timed_digests[:common] == counted_digests[:common]
        compared += common // 8
    assert compared >= 4


def test_a_duration_run_replays_exactly(runs: _Runs, tmp_path: Path) -> None:
    _, outcome = runs.get(0, "duration")
    verdict = replay_run(
        outcome.run_dir / "replay.json", output_dir=tmp_path / "replay", out=_Sink()
    )
    assert (verdict.exit_code, verdict.divergences) == (0, ())
    assert verdict.outcome.stop_reason == "OpLimitReached"
    assert verdict.ops_checked == outcome.summary["results"]["total_operations"]
    assert verdict.outcome.summary["replay_of"] == str(outcome.run_dir / "replay.json")
    assert schema_errors(verdict.outcome.summary, "summary") == []
    # The replay's own replay file replays exactly too.
    again = replay_run(
        verdict.outcome.run_dir / "replay.json", output_dir=tmp_path / "again", out=_Sink()
    )
    assert (again.exit_code, again.divergences) == (0, ())
    assert again.ops_checked == verdict.ops_checked


def test_a_spent_disk_budget_turns_writes_into_reads_and_replays(tmp_path: Path) -> None:
    settings = small_settings(
        tmp_path / "run", users="inserter=2,mixed=1", max_ops_per_user=30, max_disk_mb=0.01
    )
    outcome = run(settings)
    assert outcome.exit_code == 0
    substitutions = [u["substitutions"] for u in outcome.replay["users"]]
    assert sum(len(s) for s in substitutions) > 0
    assert [u["substitutions"] for u in outcome.summary["users"]] == [len(s) for s in substitutions]
    assert outcome.summary["results"]["disk_used_mb"] > 0.01
    _check_store_matches_the_plans(settings, outcome)
    verdict = replay_run(outcome.run_dir / "replay.json", output_dir=tmp_path / "re", out=_Sink())
    assert (verdict.exit_code, verdict.divergences) == (0, ())
    assert [u.substitutions for u in sorted(verdict.outcome.users, key=lambda u: u.user_id)] == (
        substitutions
    )


def test_an_existing_run_folder_is_refused_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = small_settings(tmp_path / "run", users="query=1", max_ops_per_user=2)
    assert run(settings).exit_code == 0
    with pytest.raises(ConfigError, match="already holds a finished run") as caught:
        run(settings)
    assert caught.value.name == "STRESS_OUTPUT_DIR"
    assert main(["run", "--output-dir", str(tmp_path / "run"), "--users", "query=1"]) == 2
    assert capsys.readouterr().err.startswith(f"ConfigError: --output-dir={tmp_path / 'run'}: ")


class _Sink:
    """A text stream that keeps what was written (for the replay's printed verdict)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

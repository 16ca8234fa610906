"""One fact, one field: a replay file whose fields disagree is refused in one line, exit 2.

The seed is read from ``global_seed`` alone and written once; a file that also carries
``config.seed`` (every file written before) must agree with it. Each user's class, database
and worker must be the ones its id and ``config`` give it, its digest file the one its id
names, and a fault may name only users, workers and databases the file has. A file of a run
that did not finish (``stop_reason`` null) is refused too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import REPO, rewrite_replay

from stress.cli.main import main
from stress.engine.runner import RunOutcome

_FIXTURE = REPO / "replay" / "processes-4-users" / "replay.json"


def _refused(path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    """Replay ``path`` through the CLI; assert it is refused in one line; return the line."""
    replay_dir = tmp_path / "replayed"
    assert main(["replay", str(path), "--output-dir", str(replay_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "", "nothing runs, nothing is announced"
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"ReplayFormatError: {path}: "), captured.err
    assert not replay_dir.exists()
    return captured.err


def test_a_new_replay_file_records_the_seed_once(process_run: RunOutcome) -> None:
    assert "seed" not in process_run.replay["config"]
    assert process_run.replay["global_seed"] == process_run.global_seed
    # The summary is a report, not read back: it keeps the full settings.
    assert process_run.summary["config"]["seed"] == process_run.global_seed


def test_a_file_whose_global_seed_and_config_seed_disagree_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fixture was written when the seed was recorded twice; change only global_seed.
    # (Refused before anything runs, so the copy needs no digest files beside it.)
    edited = tmp_path / "replay.json"
    document = rewrite_replay(_FIXTURE, edited, lambda d: d.update(global_seed=2))
    err = _refused(edited, capsys, tmp_path)
    assert document["config"]["seed"] == 20261121
    assert "global_seed is 2 but config.seed is 20261121" in err


def _move_user_1(document: dict[str, Any]) -> None:
    document["users"][1]["database_idx"] = 0


def _retag_user_0(document: dict[str, Any]) -> None:
    document["users"][0]["class"] = "mixed"


def _point_user_0_at_user_1s_digests(document: dict[str, Any]) -> None:
    document["users"][0]["op_digests"] = "plans/user-1.digests"


def _list_user_0_twice(document: dict[str, Any]) -> None:
    document["users"].append(dict(document["users"][0]))


def _unfinished(document: dict[str, Any]) -> None:
    document["stop_reason"] = None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_move_user_1, "user 1 has database_idx 0 but config.databases give it 1"),
        (_retag_user_0, "user 0 has class 'mixed' but config's users per class give it"),
        (_point_user_0_at_user_1s_digests, "user 0 has op_digests 'plans/user-1.digests'"),
        (_list_user_0_twice, "users lists user_id 0 more than once"),
        (_unfinished, "stop_reason is null: that run did not finish"),
    ],
    ids=["database", "class", "digests", "twice", "unfinished"],
)
def test_a_file_that_contradicts_itself_is_refused(
    process_run: RunOutcome,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Any,
    message: str,
) -> None:
    edited = process_run.run_dir / f"replay-{tmp_path.name}.json"
    rewrite_replay(process_run.run_dir / "replay.json", edited, edit)
    assert message in _refused(edited, capsys, tmp_path)


def test_a_fault_naming_a_worker_the_run_did_not_have_is_refused(
    process_run: RunOutcome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def add_fault(document: dict[str, Any]) -> None:
        document["faults"] = [{"kind": "kill", "t_s": 1.0, "worker_idx": 5, "points": {"0": 3}}]

    edited = process_run.run_dir / f"replay-{tmp_path.name}.json"
    rewrite_replay(process_run.run_dir / "replay.json", edited, add_fault)
    assert "faults.0.worker_idx is 5 but config.processes is 2" in _refused(
        edited, capsys, tmp_path
    )


@pytest.mark.slow
def test_a_new_file_with_only_global_seed_changed_replays_that_seed_and_diverges(
    process_run: RunOutcome, tmp_path: Path
) -> None:
    from io import StringIO

    from stress.replay.run import replay_run

    edited = process_run.run_dir / f"replay-{tmp_path.name}.json"
    rewrite_replay(process_run.run_dir / "replay.json", edited, lambda d: d.update(global_seed=2))
    out = StringIO()
    verdict = replay_run(edited, output_dir=tmp_path / "replay", out=out)
    assert ": seed 2," in out.getvalue()
    assert verdict.outcome.global_seed == 2, "the seed printed is the seed run"
    assert verdict.divergences and verdict.exit_code == 1
    assert "replay verified" not in out.getvalue()

"""Exact replay: a process-mode run re-run op for op, tampering caught, formats checked."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import (
    canonical,
    limits_of,
    planned_ops,
    recorded_profiles,
    rewrite_replay,
    run,
    small_settings,
    user_entry,
)

from stress.artifacts import (
    REPLAY_FORMAT_VERSION,
    read_replay_file,
    replay_schema,
    schema_errors,
    write_json_atomic,
)
from stress.cli.main import main
from stress.config import settings_from_dict
from stress.engine.runner import RunOutcome
from stress.errors import ReplayFormatError
from stress.plan.workload import PLAN_FORMAT_VERSION
from stress.replay.run import load_replay, profile_from_dict, replay_run


def _replay(path: Path, output_dir: Path) -> tuple[Any, str]:
    out = io.StringIO()
    verdict = replay_run(path, output_dir=output_dir, out=out)
    return verdict, out.getvalue()


def test_a_process_run_replays_exactly(process_run: RunOutcome, tmp_path: Path) -> None:
    verdict, printed = _replay(process_run.run_dir / "replay.json", tmp_path / "replay")
    assert (verdict.exit_code, verdict.divergences) == (0, ())
    assert (verdict.users_checked, verdict.ops_checked) == (4, 4 * 30)
    assert "replay verified: 4 users, 120 ops, every plan digest equal" in printed
    replayed = {u.user_id: u for u in verdict.outcome.users}
    for user in process_run.users:
        assert replayed[user.user_id].plan_digest == user.plan_digest
        assert replayed[user.user_id].process_idx == user.process_idx
    assert verdict.outcome.replay["users"] == process_run.replay["users"]
    assert verdict.outcome.summary["config"]["processes"] == 2


def test_a_tampered_plan_digest_diverges_for_that_user(
    process_run: RunOutcome, tmp_path: Path
) -> None:
    original = process_run.run_dir / "replay.json"
    tampered = process_run.run_dir / "replay-tampered-digest.json"

    def edit(document: dict[str, Any]) -> None:
        entry = user_entry(document, 2)
        entry["plan_digest"] = "0" * 32 if entry["plan_digest"] != "0" * 32 else "1" * 32

    rewrite_replay(original, tampered, edit)
    verdict, printed = _replay(tampered, tmp_path / "replay")
    assert verdict.exit_code == 1
    assert [d.user_id for d in verdict.divergences] == [2]
    divergence = verdict.divergences[0]
    # Every per-op digest still matches, so no op can be named.
    assert divergence.op_index is None
    assert divergence.user_class == "mixed"
    assert "replay DIVERGED: user 2 (mixed) at an op it could not locate" in printed


@pytest.mark.slow
def test_tampered_profile_weights_name_the_user_and_the_first_differing_op(
    process_run: RunOutcome, tmp_path: Path
) -> None:
    original = process_run.run_dir / "replay.json"
    tampered_path = process_run.run_dir / "replay-tampered-weights.json"
    weights = {
        "bulk_insert": 0.40,
        "single_insert": 0.05,
        "simple_select": 0.05,
        "aggregate": 0.25,
        "complex_join": 0.20,
        "schema_ddl": 0.05,
    }

    def edit(document: dict[str, Any]) -> None:
        document["profiles"]["query"]["weights"] = weights

    document = rewrite_replay(original, tampered_path, edit)
    query_user = next(u for u in process_run.replay["users"] if u["class"] == "query")
    settings = settings_from_dict(process_run.replay["config"])
    count = query_user["ops_executed"]
    before = planned_ops(
        process_run.global_seed,
        query_user["user_id"],
        recorded_profiles(process_run.replay)["query"],
        limits_of(settings),
        count,
    )
    after = planned_ops(
        process_run.global_seed,
        query_user["user_id"],
        profile_from_dict(document["profiles"]["query"]),
        limits_of(settings),
        count,
    )
    pairs = zip(canonical(before), canonical(after), strict=True)
    differing = [index for index, (old, new) in enumerate(pairs) if old != new]
    assert differing, "the tampered weights did not change the plan; pick other weights"

    verdict, printed = _replay(tampered_path, tmp_path / "replay")
    assert verdict.exit_code == 1
    assert [(d.user_id, d.op_index) for d in verdict.divergences] == [
        (query_user["user_id"], differing[0])
    ]
    assert f"user {query_user['user_id']} (query) at op {differing[0]}" in printed
    assert main(["replay", str(tampered_path), "--output-dir", str(tmp_path / "cli")]) == 1


@pytest.mark.slow
def test_stream_independence_a_run_without_user_3_replays_the_others_exactly(
    tmp_path: Path,
) -> None:
    outcome = run(
        small_settings(
            tmp_path / "run", users="inserter=2,query=2,mixed=2", processes=2, max_ops_per_user=20
        )
    )
    assert outcome.exit_code == 0
    assert [u["user_id"] for u in outcome.replay["users"]] == [0, 1, 2, 3, 4, 5]
    without = outcome.run_dir / "replay-without-3.json"

    def drop_user_3(document: dict[str, Any]) -> None:
        document["users"] = [u for u in document["users"] if u["user_id"] != 3]

    rewrite_replay(outcome.run_dir / "replay.json", without, drop_user_3)
    verdict, _ = _replay(without, tmp_path / "replay")
    assert (verdict.exit_code, verdict.divergences) == (0, ())
    replayed = {u.user_id: u.plan_digest for u in verdict.outcome.users}
    recorded = {u.user_id: u.plan_digest for u in outcome.users if u.user_id != 3}
    assert replayed == recorded
    assert sorted(replayed) == [0, 1, 2, 4, 5]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("format_version", "format_version 99 is not supported"),
        ("plan_format_version", "plan format 99"),
    ],
)
def test_an_unknown_format_version_is_a_typed_error(
    process_run: RunOutcome,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    field: str,
    message: str,
) -> None:
    path = tmp_path / "replay.json"
    rewrite_replay(process_run.run_dir / "replay.json", path, lambda d: d.update({field: 99}))
    with pytest.raises(ReplayFormatError, match=message) as caught:
        load_replay(path)
    assert caught.value.path == str(path)
    capsys.readouterr()
    assert main(["replay", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("ReplayFormatError: ") and message in err[0]
    assert not (tmp_path / "out" / "summary.json").exists()


def test_the_versions_in_use_are_the_ones_written(process_run: RunOutcome) -> None:
    assert process_run.replay["format_version"] == REPLAY_FORMAT_VERSION
    assert process_run.replay["plan_format_version"] == PLAN_FORMAT_VERSION


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_unreadable_replay_files_are_typed_errors(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "replay.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReplayFormatError, match=message):
        read_replay_file(path)


def test_a_bad_field_is_named(process_run: RunOutcome, tmp_path: Path) -> None:
    path = tmp_path / "replay.json"

    def edit(document: dict[str, Any]) -> None:
        document["users"][1]["plan_digest"] = "not-hex"

    rewrite_replay(process_run.run_dir / "replay.json", path, edit)
    with pytest.raises(ReplayFormatError, match=r"field users\.1\.plan_digest"):
        read_replay_file(path)


def test_a_profile_that_cannot_be_rebuilt_is_a_format_error(
    process_run: RunOutcome, tmp_path: Path
) -> None:
    path = tmp_path / "replay.json"

    def edit(document: dict[str, Any]) -> None:
        del document["profiles"]["mixed"]["weights"]

    rewrite_replay(process_run.run_dir / "replay.json", path, edit)
    with pytest.raises(ReplayFormatError, match="profiles: cannot rebuild"):
        load_replay(path)


def test_the_packaged_replay_schema_is_the_generated_one() -> None:
    packaged = json.loads(
        (Path(__file__).resolve().parents[2] / "stress/schemas/replay.schema.json").read_text()
    )
    assert packaged == replay_schema()


def test_schema_errors_reports_what_is_wrong(process_run: RunOutcome) -> None:
    broken = json.loads(json.dumps(process_run.replay))
    broken["users"][0]["ops_executed"] = -1
    del broken["global_seed"]
    errors = schema_errors(broken, "replay")
    assert any(error.startswith("users/0/ops_executed") for error in errors)
    assert any("global_seed" in error for error in errors)
    summary = json.loads(json.dumps(process_run.summary))
    summary["results"] = "none"
    assert schema_errors(summary, "summary") != []


def test_write_json_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out" / "doc.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"b": [1, 2], 3: "x"})
    assert json.loads(path.read_text()) == {"b": [1, 2], "3": "x"}
    assert [p.name for p in path.parent.iterdir()] == ["doc.json"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_artifacts_get_the_mode_the_umask_gives(tmp_path: Path, umask: int, mode: int) -> None:
    """Not mkstemp's 0600: a CI job or a colleague must be able to read a run's artifacts."""
    previous = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "summary.json", {"ok": True})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == mode

"""Failure bundles: a run kept in ``replay/`` as a test, and the corpus of them.

``stress keep RUN_DIR`` copies into ``replay/<signature>-<name>/`` what a replay needs and what
it must find: the shrunk replay (``RUN_DIR/shrunk/``) or else the run's own ``replay.json``,
with its per-op digests, and ``bundle.json``: the failure block of the run's summary, the
environment it was kept in (stress, Python, SQLite and engine versions, the project's git
commit when there is one; never a path of the machine), the command that replays it and the
expected outcome: ``fails`` with the signature, or ``passes`` for a clean run (whose folder is
``clean-<name>``). The test suite replays every bundle and holds it to that outcome.

The plain fixtures already in ``replay/`` (a ``replay.json`` without ``bundle.json``) are
clean runs that must replay with equal digests; ``stress corpus`` lists them as such.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from stress.artifacts import read_replay_file, write_json_atomic
from stress.engine.interrupts import Interrupts
from stress.errors import BundleError, RunFolderError

__all__ = ["Bundle", "BundleCheck", "format_corpus", "keep_run", "read_corpus", "replay_bundle"]

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT_VERSION = 1
#: A bundle's name: one path component anyone can type (no slash, no leading dot).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CLEAN = "clean"


@dataclass(frozen=True)
class Bundle:
    """One folder of the corpus: a bundle (with bundle.json) or a plain clean fixture."""

    folder: Path
    #: The signature the replay must fail with; None: it must pass.
    signature: str | None
    detail: str | None
    #: ``passes``/``fails ...`` from the last ``stress corpus --replay`` (or the keep).
    last_outcome: str
    is_fixture: bool = False

    def describe(self) -> str:
        if self.signature is None:
            return "expected: passes"
        return f"expected: fails with {self.signature} ({self.detail})"


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BundleError(
            name,
            "not a bundle name: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no slash), e.g. --name lost-batch",
        )
    return name


def _git_commit() -> str | None:
    """The commit of the checkout stress runs from, when it is one (else None)."""
    source = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def _environment(summary: dict[str, Any]) -> dict[str, Any]:
    """Versions only (the summary's platform string and paths stay behind)."""
    recorded = summary.get("environment") or {}
    return {
        "stress_version": recorded.get("stress_version"),
        "python": recorded.get("python", platform.python_version()),
        "sqlite": recorded.get("sqlite"),
        "engine": recorded.get("engine"),
        "engine_version": recorded.get("engine_version"),
        "git_commit": _git_commit(),
    }


def _portable_replay(document: dict[str, Any]) -> dict[str, Any]:
    """The replay document without the paths of the machine that ran it.

    A replay never reads them: it writes to a folder of its own and uses the profiles
    recorded in the file.
    """
    config = dict(document["config"])
    config["output_dir"] = None
    config["replay_file"] = None
    if config.get("profile_dir") and Path(config["profile_dir"]).is_absolute():
        config["profile_dir"] = "profiles"
    profiles = {
        name: {**profile, "path": Path(profile["path"]).name} if profile.get("path") else profile
        for name, profile in document["profiles"].items()
    }
    return {**document, "config": config, "profiles": profiles}


def _source_of(run_dir: Path) -> Path:
    """The folder whose replay is kept: the shrunk run when there is one."""
    shrunk = run_dir / "shrunk"
    return shrunk if (shrunk / "replay.json").is_file() else run_dir


def keep_run(run_dir: Path, corpus: Path, name: str | None = None) -> Bundle:
    """Copy ``run_dir`` (shrunk when it was) into ``corpus/<signature>-<name>/``."""
    bundle_name = _check_name(name if name is not None else run_dir.name)
    source = _source_of(run_dir)
    for needed in ("replay.json", "summary.json"):
        if not (source / needed).is_file():
            raise RunFolderError(
                str(run_dir), f"not a run folder (no {needed}); pass the folder a run wrote"
            )
    replay = read_replay_file(source / "replay.json")  # a damaged file is refused here
    if not replay.finished:
        raise RunFolderError(str(run_dir), "the run did not finish; keep a finished run")
    summary = orjson.loads((source / "summary.json").read_bytes())
    failure = summary.get("failure") if isinstance(summary, dict) else None
    signature = failure.get("signature") if isinstance(failure, dict) else None
    folder = corpus / f"{signature or CLEAN}-{bundle_name}"
    if folder.exists():
        raise BundleError(bundle_name, f"{folder} exists already; choose another --name")
    document = orjson.loads((source / "replay.json").read_bytes())
    staging = corpus / f".{folder.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_json_atomic(staging / "replay.json", _portable_replay(document))
    if (source / "plans").is_dir():
        shutil.copytree(source / "plans", staging / "plans")
    write_json_atomic(staging / BUNDLE_FILE, _bundle_document(folder, summary, failure))
    staging.rename(folder)
    return _read_bundle(folder)


def _bundle_document(
    folder: Path, summary: dict[str, Any], failure: dict[str, Any] | None
) -> dict[str, Any]:
    expected = (
        {
            "outcome": "fails",
            "signature": failure["signature"],
            "stop_reason": failure["stop_reason"],
        }
        if failure is not None
        else {"outcome": "passes"}
    )
    return {
        "format_version": BUNDLE_FORMAT_VERSION,
        "kept_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "expected": expected,
        "failure": failure,
        "mutant": summary.get("config", {}).get("mutant"),
        "environment": _environment(summary),
        # From the project's folder (the corpus is its replay/): no path of this machine.
        "command": f"stress replay {folder.parent.name}/{folder.name}/replay.json",
        "last_outcome": _outcome_text(failure),
    }


def _outcome_text(failure: dict[str, Any] | None) -> str:
    return f"fails {failure['signature']}" if failure is not None else "passes"


def _read_bundle(folder: Path) -> Bundle:
    path = folder / BUNDLE_FILE
    if not path.is_file():
        return Bundle(folder, None, None, "passes (fixture)", is_fixture=True)
    try:
        document = orjson.loads(path.read_bytes())
        expected = document["expected"]
        signature = expected.get("signature") if expected["outcome"] == "fails" else None
        failure = document.get("failure") or {}
        return Bundle(folder, signature, failure.get("detail"), str(document["last_outcome"]))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise BundleError(str(folder), f"{BUNDLE_FILE} cannot be read ({exc!r})") from None


def read_corpus(corpus: Path) -> list[Bundle]:
    """Every folder of ``corpus`` holding a replay.json, by name."""
    if not corpus.is_dir():
        raise BundleError(str(corpus), "no such folder; pass --corpus or run from the project")
    return [_read_bundle(path.parent) for path in sorted(corpus.glob("*/replay.json"))]


def format_corpus(bundles: list[Bundle]) -> str:
    lines = [f"{'bundle':<44} {'signature':<12} {'expected':<8} last outcome"]
    for bundle in bundles:
        expected = "fails" if bundle.signature is not None else "passes"
        lines.append(
            f"{bundle.folder.name:<44} {bundle.signature or '-':<12} {expected:<8} "
            f"{bundle.last_outcome}"
        )
    fixtures = sum(bundle.is_fixture for bundle in bundles)
    lines.append(f"{len(bundles) - fixtures} bundles, {fixtures} plain fixtures")
    return "\n".join(lines)


@dataclass(frozen=True)
class BundleCheck:
    """A bundle's replay against its expected outcome."""

    bundle: Bundle
    #: The replay's failure signature (None: it passed).
    signature: str | None
    divergences: int
    as_expected: bool


def replay_bundle(
    bundle: Bundle,
    *,
    output_dir: Path | None = None,
    out: TextIO | None = None,
    interrupts: Interrupts | None = None,
    record: bool = False,
) -> BundleCheck:
    """Replay ``bundle`` and hold it to its expected outcome; ``record`` writes the outcome
    into its bundle.json (``stress corpus --replay``)."""
    import io

    from stress.replay.run import replay_run

    verdict = replay_run(
        bundle.folder / "replay.json",
        output_dir=output_dir,
        out=out if out is not None else io.StringIO(),
        interrupts=interrupts,
    )
    failure = verdict.outcome.summary.get("failure")
    signature = failure.get("signature") if isinstance(failure, dict) else None
    same = signature == bundle.signature and verdict.outcome.exit_code != 130
    check = BundleCheck(
        bundle, signature, len(verdict.divergences), same and not verdict.divergences
    )
    if record and not bundle.is_fixture:
        path = bundle.folder / BUNDLE_FILE
        document = orjson.loads(path.read_bytes())
        document["last_outcome"] = (
            f"{'fails ' + signature if signature else 'passes'} "
            f"({'as expected' if check.as_expected else 'NOT as expected'}, "
            f"{datetime.now(UTC):%Y-%m-%d})"
        )
        write_json_atomic(path, document)
    return check

"""Run artifacts: ``summary.json`` and ``replay.json``, written atomically, with schemas.

Both are written to a temporary file in the same folder, flushed and fsynced, then renamed
over the target, so a reader (or a run killed mid-write) never sees half a file. The replay
file is read back through a pydantic model, so a damaged one is a typed error naming the
field; its JSON Schema (``stress/schemas/replay.schema.json``) is generated from that model
and a test keeps the two equal. The summary's models and schema are in :mod:`stress.summary`.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stress.errors import ReplayFormatError
from stress.faults import KILL, LOCK, FaultKind

__all__ = [
    "REPLAY_FORMAT_VERSION",
    "ReplayFault",
    "ReplayFile",
    "ReplayUser",
    "read_replay_file",
    "schema_errors",
    "write_json_atomic",
]

REPLAY_FORMAT_VERSION = 1


def write_json_atomic(path: Path, document: Any) -> None:
    """Write ``document`` as indented JSON at ``path`` via temp file + fsync + rename."""
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its file is mode 0600, and the artifacts must be as readable as any file
    # the user creates (0666 less the umask), e.g. for a CI job that uploads them.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class ReplayUser(BaseModel):
    """One user as it ran: enough to re-run exactly its op sequence and check it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: int = Field(ge=0)
    class_: str = Field(alias="class", min_length=1)
    database_idx: int = Field(ge=0)
    process_idx: int = Field(ge=0)
    ops_executed: int = Field(ge=0)
    #: The digest chain after ``ops_executed`` ops; null while the run has not finished.
    plan_digest: str | None = Field(pattern=r"^[0-9a-f]{32}$")
    #: Op indexes where the disk budget turned a write into a simple select.
    substitutions: list[int]
    #: Op indexes skipped by the latency limit in open-loop mode (drawn, never executed).
    skipped: list[int] = Field(default_factory=list)
    #: Side file of 8-byte per-op digests, relative to the replay file's folder.
    op_digests: str | None = None


class ReplayFault(BaseModel):
    """One injected fault, pinned to where every user's sequence was when it struck.

    A replay injects it once every user of its target (the killed worker's, the locked
    database's) has reached its point again.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    #: Seconds into the recorded run.
    t_s: float = Field(ge=0)
    #: The worker killed (kill).
    worker_idx: int | None = Field(default=None, ge=0)
    #: The database locked (lock).
    database_idx: int | None = Field(default=None, ge=0)
    #: How long the lock was held, in seconds (lock).
    hold_s: float | None = Field(default=None, gt=0)
    #: Each user's ops_executed when the fault struck, by user id.
    points: dict[int, int]

    @model_validator(mode="after")
    def _has_target(self) -> ReplayFault:
        if self.kind == KILL and self.worker_idx is None:
            raise ValueError("a kill names its worker_idx")
        if self.kind == LOCK and (self.database_idx is None or self.hold_s is None):
            raise ValueError("a lock names its database_idx and hold_s")
        return self


class ReplayFile(BaseModel):
    """``replay.json``: the seed, the configuration and every user's recorded sequence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int
    plan_format_version: int
    global_seed: int = Field(ge=0)
    config: dict[str, Any]
    #: Why the run ended; null in the file of a run that has not finished (killed, or still
    #: running), whose users' counts are only the last reported ones.
    stop_reason: str | None
    #: The resolved profiles the run used, by class name (a replay uses these, not the files).
    profiles: dict[str, dict[str, Any]]
    users: list[ReplayUser]
    #: Faults injected during the run, in order (absent in files of runs without faults).
    faults: list[ReplayFault] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.stop_reason is not None

    @model_validator(mode="after")
    def _finished_users_have_digests(self) -> ReplayFile:
        if self.finished:
            for user in self.users:
                if user.plan_digest is None:
                    raise ValueError(
                        f"user {user.user_id} has no plan_digest in a finished run's file"
                    )
        return self


def read_replay_file(path: Path) -> ReplayFile:
    """Load and validate a replay file; :class:`ReplayFormatError` says what is wrong."""
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ReplayFormatError(str(path), "no such file; pass the replay.json of a run") from None
    except IsADirectoryError:
        raise ReplayFormatError(
            str(path), f"is a folder; pass the replay.json in it: {path / 'replay.json'}"
        ) from None
    except OSError as exc:
        raise ReplayFormatError(
            str(path), f"cannot be read ({exc.strerror}); pass a readable replay.json"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise ReplayFormatError(str(path), f"not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ReplayFormatError(str(path), "not a JSON object")
    version = raw.get("format_version")
    if version != REPLAY_FORMAT_VERSION:
        raise ReplayFormatError(
            str(path),
            f"format_version {version!r} is not supported (this stress reads "
            f"{REPLAY_FORMAT_VERSION}); use the stress version that wrote it",
        )
    try:
        return ReplayFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ReplayFormatError(str(path), f"field {where}: {first['msg']}") from None


def replay_schema() -> dict[str, Any]:
    """The JSON Schema of replay.json, generated from :class:`ReplayFile`."""
    schema = ReplayFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stress replay.json"
    return schema


@cache
def _packaged_schema(name: str) -> dict[str, Any]:
    text = resources.files("stress.schemas").joinpath(name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema_errors(document: Any, kind: str) -> list[str]:
    """Every way ``document`` breaks the ``summary`` or ``replay`` schema (empty: valid)."""
    # Imported here: jsonschema is slow to import and only checks finished artifacts.
    from jsonschema import Draft202012Validator

    schema = _packaged_schema(f"{kind}.schema.json")
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


@dataclass(frozen=True)
class DatabasePlace:
    """Where database ``index`` lives: its meta.db file and its spool home."""

    index: int
    path: Path
    home: Path

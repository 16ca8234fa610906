"""meta.db: the observability store every stress run targets.

A faithful Python implementation of the original Rust store (JSON-row tables, WAL, an id
allocator, an error spool) with its strategies selectable per handle. It knows nothing of the
simulator; the simulator reaches it only through the names exported here.

The names are loaded on first use (PEP 562), so importing one light module of the store (its
errors, its vocabularies) does not build every record model.
"""

import importlib
import typing

if typing.TYPE_CHECKING:  # the names _SOURCES loads; tests/test_startup.py checks both agree
    from stress.metadb.analytics import ANALYTICS, AnalyticsQuery
    from stress.metadb.engines import (
        CONNECTION_MODES,
        DISK_FULL,
        ENGINES,
        ERROR_CLASSES,
        INTERRUPTED,
        MULTIPROCESS_WAL,
        SIDECAR_SUFFIXES,
        ConnectionMode,
        EngineName,
        database_files,
        engine_version,
        is_no_room,
    )
    from stress.metadb.errors import (
        EngineError,
        EngineUnavailableError,
        InvalidQueryError,
        InvalidRecordError,
        MetaDbError,
        SchemaTooNewError,
        UnknownTableError,
    )
    from stress.metadb.ids import ID_STRATEGIES, IdStrategy
    from stress.metadb.maintenance import CheckpointResult, RetentionResult, StoreStats
    from stress.metadb.records import RECORD_MODELS, SOURCE_ERROR_CLASSES, Record, model_for
    from stress.metadb.schema import JSON_TABLES, SCHEMA_VERSION, STRUCTURED_TABLES
    from stress.metadb.spool import (
        SpoolLine,
        SpoolStats,
        iter_spool_lines,
        spool_files,
        spool_path,
        spool_stats,
    )
    from stress.metadb.spool_replay import SpoolReplayResult, replay_spool
    from stress.metadb.store import (
        BatchOutcome,
        MetaDb,
        QueryResult,
        StoreOptions,
        WriteOutcome,
        WriteStatus,
    )

__all__ = [
    "ANALYTICS",
    "CONNECTION_MODES",
    "DISK_FULL",
    "ENGINES",
    "ERROR_CLASSES",
    "ID_STRATEGIES",
    "INTERRUPTED",
    "JSON_TABLES",
    "MULTIPROCESS_WAL",
    "RECORD_MODELS",
    "SCHEMA_VERSION",
    "SIDECAR_SUFFIXES",
    "SOURCE_ERROR_CLASSES",
    "STRUCTURED_TABLES",
    "AnalyticsQuery",
    "BatchOutcome",
    "CheckpointResult",
    "ConnectionMode",
    "EngineError",
    "EngineName",
    "EngineUnavailableError",
    "IdStrategy",
    "InvalidQueryError",
    "InvalidRecordError",
    "MetaDb",
    "MetaDbError",
    "QueryResult",
    "Record",
    "RetentionResult",
    "SchemaTooNewError",
    "SpoolLine",
    "SpoolReplayResult",
    "SpoolStats",
    "StoreOptions",
    "StoreStats",
    "UnknownTableError",
    "WriteOutcome",
    "WriteStatus",
    "database_files",
    "engine_version",
    "is_no_room",
    "iter_spool_lines",
    "model_for",
    "replay_spool",
    "spool_files",
    "spool_path",
    "spool_stats",
]

# Where each public name is defined: the store's API, loaded on first use.
_SOURCES = {
    "ANALYTICS": "stress.metadb.analytics",
    "AnalyticsQuery": "stress.metadb.analytics",
    "ENGINES": "stress.metadb.engines",
    "ERROR_CLASSES": "stress.metadb.engines",
    "EngineName": "stress.metadb.engines",
    "engine_version": "stress.metadb.engines",
    "database_files": "stress.metadb.engines",
    "MULTIPROCESS_WAL": "stress.metadb.engines",
    "SIDECAR_SUFFIXES": "stress.metadb.engines",
    "is_no_room": "stress.metadb.engines",
    "EngineError": "stress.metadb.errors",
    "EngineUnavailableError": "stress.metadb.errors",
    "InvalidQueryError": "stress.metadb.errors",
    "InvalidRecordError": "stress.metadb.errors",
    "MetaDbError": "stress.metadb.errors",
    "SchemaTooNewError": "stress.metadb.errors",
    "UnknownTableError": "stress.metadb.errors",
    "ID_STRATEGIES": "stress.metadb.ids",
    "IdStrategy": "stress.metadb.ids",
    "CheckpointResult": "stress.metadb.maintenance",
    "RetentionResult": "stress.metadb.maintenance",
    "StoreStats": "stress.metadb.maintenance",
    "RECORD_MODELS": "stress.metadb.records",
    "SOURCE_ERROR_CLASSES": "stress.metadb.records",
    "Record": "stress.metadb.records",
    "model_for": "stress.metadb.records",
    "JSON_TABLES": "stress.metadb.schema",
    "SCHEMA_VERSION": "stress.metadb.schema",
    "STRUCTURED_TABLES": "stress.metadb.schema",
    "SpoolLine": "stress.metadb.spool",
    "SpoolStats": "stress.metadb.spool",
    "iter_spool_lines": "stress.metadb.spool",
    "spool_files": "stress.metadb.spool",
    "spool_path": "stress.metadb.spool",
    "spool_stats": "stress.metadb.spool",
    "SpoolReplayResult": "stress.metadb.spool_replay",
    "replay_spool": "stress.metadb.spool_replay",
    "CONNECTION_MODES": "stress.metadb.engines",
    "DISK_FULL": "stress.metadb.engines",
    "INTERRUPTED": "stress.metadb.engines",
    "BatchOutcome": "stress.metadb.store",
    "ConnectionMode": "stress.metadb.engines",
    "MetaDb": "stress.metadb.store",
    "QueryResult": "stress.metadb.store",
    "StoreOptions": "stress.metadb.store",
    "WriteOutcome": "stress.metadb.store",
    "WriteStatus": "stress.metadb.store",
}


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use, then keep it here."""
    if name not in _SOURCES:
        raise AttributeError(f"module 'stress.metadb' has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

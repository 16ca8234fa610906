"""meta.db: the observability store every stress run targets.

A faithful Python implementation of the original Rust store (JSON-row tables, WAL, an id
allocator, an error spool) with its strategies selectable per handle. It knows nothing of the
simulator; the simulator reaches it only through the names exported here.
"""

from stress.metadb.analytics import ANALYTICS, AnalyticsQuery
from stress.metadb.engines import (
    ENGINES,
    ERROR_CLASSES,
    EngineName,
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
    CONNECTION_MODES,
    BatchOutcome,
    ConnectionMode,
    MetaDb,
    QueryResult,
    StoreOptions,
    WriteOutcome,
    WriteStatus,
)

__all__ = [
    "ANALYTICS",
    "CONNECTION_MODES",
    "ENGINES",
    "ERROR_CLASSES",
    "ID_STRATEGIES",
    "JSON_TABLES",
    "RECORD_MODELS",
    "SCHEMA_VERSION",
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
    "engine_version",
    "is_no_room",
    "iter_spool_lines",
    "model_for",
    "replay_spool",
    "spool_files",
    "spool_path",
    "spool_stats",
]

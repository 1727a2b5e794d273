"""The ``maintenance_audit_log`` table: one row per maintenance action, in the catalog database.

It lives in the same database as the Iceberg catalog (SQLite embedded, PostgreSQL in production,
same SQLAlchemy URL as :func:`~coldtier_assets.resources.iceberg.sqlalchemy_uri`) and is created on
first use. The Prometheus exporter reads this exact schema:

========================  ==========================================================================
column                    meaning
========================  ==========================================================================
``id``                    autoincrement primary key
``table_name``            cold table (compact, expire_snapshots, remove_orphans, audit) or ClickHouse
                          table (retention)
``action``                ``compact`` | ``expire_snapshots`` | ``remove_orphans`` | ``audit`` |
                          ``retention``
``started_at``            when the action started (UTC)
``duration_seconds``      how long it took
``files_before/_after``   data files of the current snapshot; for ``remove_orphans`` every file stored
                          under the table location; for ``retention`` the ClickHouse parts of the day
``bytes_before/_after``   the same files' bytes
``rows_before/_after``    rows of the current snapshot; for ``audit`` the rows compared; for
                          ``retention`` the rows of the ClickHouse day partition
``outcome``               ``success`` | ``failed`` | ``skipped`` (did not run: nothing to act on, an
                          earlier action of the table failed, or retention kept the day)
``message``               what was done, or the error
========================  ==========================================================================

Counts are NULL where they do not apply.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    desc,
    insert,
    select,
)
from sqlalchemy.exc import OperationalError, ProgrammingError

from coldtier_assets.offload.windows import utc
from coldtier_assets.resources.iceberg import sqlalchemy_uri

Action = Literal["compact", "expire_snapshots", "remove_orphans", "audit", "retention"]
Outcome = Literal["success", "failed", "skipped"]

ACTIONS: tuple[Action, ...] = ("compact", "expire_snapshots", "remove_orphans", "audit", "retention")
OUTCOMES: tuple[Outcome, ...] = ("success", "failed", "skipped")
TABLE_NAME = "maintenance_audit_log"

_metadata = MetaData()

#: The SQLAlchemy definition of the audit-log table (shared with readers such as the exporter).
AUDIT_LOG_TABLE = Table(
    TABLE_NAME,
    _metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("table_name", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("files_before", BigInteger, nullable=True),
    Column("files_after", BigInteger, nullable=True),
    Column("bytes_before", BigInteger, nullable=True),
    Column("bytes_after", BigInteger, nullable=True),
    Column("rows_before", BigInteger, nullable=True),
    Column("rows_after", BigInteger, nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_maintenance_audit_log_started_at", "started_at"),
    Index("ix_maintenance_audit_log_table_action", "table_name", "action"),
)


@dataclass(frozen=True)
class AuditRow:
    """One row of the audit log (``id`` is ``None`` until written)."""

    table_name: str
    action: Action
    started_at: datetime
    duration_seconds: float
    outcome: Outcome
    message: str = ""
    files_before: int | None = None
    files_after: int | None = None
    bytes_before: int | None = None
    bytes_after: int | None = None
    rows_before: int | None = None
    rows_after: int | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown maintenance action {self.action!r}; known: {', '.join(ACTIONS)}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; known: {', '.join(OUTCOMES)}")
        object.__setattr__(self, "started_at", utc(self.started_at))

    @property
    def failed(self) -> bool:
        """True when the action failed."""
        return self.outcome == "failed"


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def audit_log_engine(catalog_uri: str) -> Engine:
    """A (process-wide, cached) engine on the catalog database, with the audit-log table created."""
    url = sqlalchemy_uri(catalog_uri)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = create_engine(url, pool_pre_ping=True)
            try:
                _metadata.create_all(engine, checkfirst=True)
            except (OperationalError, ProgrammingError):
                # Another process created it between the check and the CREATE: fine if it exists now.
                _metadata.create_all(engine, checkfirst=True)
            _ENGINES[url] = engine
        return engine


def write_audit_row(catalog_uri: str, row: AuditRow) -> AuditRow:
    """Insert ``row`` into the audit log; returns it with its ``id``."""
    values = {
        "table_name": row.table_name,
        "action": row.action,
        "started_at": row.started_at,
        "duration_seconds": float(row.duration_seconds),
        "files_before": row.files_before,
        "files_after": row.files_after,
        "bytes_before": row.bytes_before,
        "bytes_after": row.bytes_after,
        "rows_before": row.rows_before,
        "rows_after": row.rows_after,
        "outcome": row.outcome,
        "message": row.message,
    }
    with audit_log_engine(catalog_uri).begin() as connection:
        result = connection.execute(insert(AUDIT_LOG_TABLE).values(**values))
        key = result.inserted_primary_key
    return replace(row, id=int(key[0]) if key is not None and key[0] is not None else None)


def read_audit_rows(
    catalog_uri: str,
    *,
    limit: int = 100,
    table_name: str | None = None,
    action: Action | None = None,
    since: datetime | None = None,
) -> list[AuditRow]:
    """The most recent audit rows, newest first, optionally for one table, one action or since a time."""
    query = select(AUDIT_LOG_TABLE)
    if table_name is not None:
        query = query.where(AUDIT_LOG_TABLE.c.table_name == table_name)
    if action is not None:
        query = query.where(AUDIT_LOG_TABLE.c.action == action)
    if since is not None:
        query = query.where(AUDIT_LOG_TABLE.c.started_at >= utc(since))
    query = query.order_by(desc(AUDIT_LOG_TABLE.c.id)).limit(limit)
    with audit_log_engine(catalog_uri).connect() as connection:
        records = connection.execute(query).mappings().all()
    return [
        AuditRow(
            id=int(record["id"]),
            table_name=str(record["table_name"]),
            action=cast(Action, record["action"]),
            started_at=record["started_at"],
            duration_seconds=float(record["duration_seconds"]),
            files_before=record["files_before"],
            files_after=record["files_after"],
            bytes_before=record["bytes_before"],
            bytes_after=record["bytes_after"],
            rows_before=record["rows_before"],
            rows_after=record["rows_after"],
            outcome=cast(Outcome, record["outcome"]),
            message=str(record["message"]),
        )
        for record in records
    ]

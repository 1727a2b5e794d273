"""The exporter's maintenance figures: the latest result per (table, action), from the audit log.

:class:`MaintenanceSource` reads ``maintenance_audit_log`` in the catalog database (absent until the
first maintenance run: tolerated, and not created by a reader).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy

from coldtier_assets.config import Settings
from coldtier_assets.maintenance.audit_log import TABLE_NAME as LOG_TABLE
from coldtier_assets.resources.iceberg import sqlalchemy_uri


@dataclass(frozen=True)
class MaintenanceRun:
    """The latest audit-log row of one (table, action)."""

    table: str
    action: str
    outcome: str
    started_at: float | None
    duration_seconds: float | None
    files: tuple[int | None, int | None]
    bytes: tuple[int | None, int | None]
    rows: tuple[int | None, int | None]


@dataclass
class MaintenanceFigures:
    """The maintenance side of the metrics (``present`` is False while the log table is missing)."""

    present: bool
    latest: list[MaintenanceRun] = field(default_factory=list)
    runs: dict[tuple[str, str, str], int] = field(default_factory=dict)


def _timestamp(value: object) -> float | None:
    """Unix time of an audit-log timestamp (datetime, ISO text or a number; naive means UTC)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return None


def _number(value: object) -> float | None:
    try:
        return None if value is None else float(str(value))
    except ValueError:
        return None


def _integer(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _table_label(name: object) -> str:
    """``cold.silver_trades`` and ``silver_trades`` both label as ``silver_trades``."""
    return str(name).rsplit(".", 1)[-1]


_LATEST = sqlalchemy.text(
    f"SELECT table_name, action, outcome, started_at, duration_seconds, files_before, files_after, "
    f"bytes_before, bytes_after, rows_before, rows_after FROM {LOG_TABLE} "
    f"WHERE id IN (SELECT MAX(id) FROM {LOG_TABLE} GROUP BY table_name, action)"
)
_COUNTS = sqlalchemy.text(
    f"SELECT table_name, action, outcome, COUNT(*) FROM {LOG_TABLE} GROUP BY table_name, action, outcome"
)


class MaintenanceSource:
    """Reads the latest maintenance result per (table, action) from the catalog database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: sqlalchemy.Engine | None = None

    def engine(self) -> sqlalchemy.Engine:
        """The catalog database engine, created on first use."""
        if self._engine is None:
            self._engine = sqlalchemy.create_engine(sqlalchemy_uri(self.settings.catalog_uri))
        return self._engine

    def reset(self) -> None:
        """Drop the engine (after an error)."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None

    def read(self) -> MaintenanceFigures:
        """The latest run of each (table, action) and run counts per outcome."""
        engine = self.engine()
        if not sqlalchemy.inspect(engine).has_table(LOG_TABLE):
            return MaintenanceFigures(present=False)
        with engine.connect() as connection:
            latest = connection.execute(_LATEST).all()
            counts = connection.execute(_COUNTS).all()
        runs: dict[tuple[str, str, str], int] = defaultdict(int)
        for table, action, outcome, count in counts:
            runs[(_table_label(table), str(action), str(outcome))] += int(count)
        return MaintenanceFigures(
            present=True,
            latest=[
                MaintenanceRun(
                    table=_table_label(row[0]),
                    action=str(row[1]),
                    outcome=str(row[2]),
                    started_at=_timestamp(row[3]),
                    duration_seconds=_number(row[4]),
                    files=(_integer(row[5]), _integer(row[6])),
                    bytes=(_integer(row[7]), _integer(row[8])),
                    rows=(_integer(row[9]), _integer(row[10])),
                )
                for row in latest
            ],
            runs=dict(runs),
        )

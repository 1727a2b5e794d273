"""`coldtier init`: create the warm tables and the cold tables from ``ddl/`` — idempotently."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.table import Table

from coldtier_assets.ddl import clickhouse_statements, iceberg_ddl
from coldtier_assets.errors import SchemaDriftError
from coldtier_assets.offload.sink import migrate_ledger
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.tables import TABLES, TableSpec


@dataclass(frozen=True)
class InitReport:
    """What `init` did: statements run on ClickHouse, cold tables created and already present."""

    warm_statements: int
    cold_created: tuple[str, ...]
    cold_existing: tuple[str, ...]


def init_warm(warm: WarmTier) -> int:
    """Apply every ClickHouse DDL statement (all are ``IF NOT EXISTS``); returns how many ran."""
    statements = clickhouse_statements()
    with warm.session() as client:
        for statement in statements:
            client.command(statement)
    return len(statements)


def cold_identifier(namespace: str, table: TableSpec) -> tuple[str, str]:
    """The catalog identifier of a cold table."""
    return (namespace, table.name)


def check_cold_schema(table: Table, spec: TableSpec) -> None:
    """Raise :class:`SchemaDriftError` when an existing cold table differs from its DDL."""
    expected = {
        field.name: (str(field.field_type), field.required) for field in iceberg_ddl(spec).schema.fields
    }
    actual = {field.name: (str(field.field_type), field.required) for field in table.schema().fields}
    if expected != actual:
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        changed = sorted(name for name in set(expected) & set(actual) if expected[name] != actual[name])
        raise SchemaDriftError(
            f"cold table {table.name()} differs from ddl/iceberg: missing {missing}, unexpected {extra}, "
            f"changed {[(name, actual[name], expected[name]) for name in changed]}"
        )


def init_cold(catalog: Catalog, namespace: str) -> tuple[list[str], list[str]]:
    """Create the namespace and every cold table that is missing; check the ones that exist."""
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(namespace)
    created: list[str] = []
    existing: list[str] = []
    for spec in TABLES:
        identifier = cold_identifier(namespace, spec)
        try:
            check_cold_schema(catalog.load_table(identifier), spec)
            migrate_ledger(catalog, identifier)  # a table written before the ledger property
            existing.append(spec.name)
            continue
        except NoSuchTableError:
            pass
        ddl = iceberg_ddl(spec)
        try:
            catalog.create_table(
                identifier, schema=ddl.schema, partition_spec=ddl.partition_spec, properties=ddl.properties
            )
            created.append(spec.name)
        except TableAlreadyExistsError:  # created concurrently by another process
            existing.append(spec.name)
    return created, existing


def init_all(warm: WarmTier, catalog: Catalog, namespace: str) -> InitReport:
    """Create warm and cold tables; running it twice changes nothing."""
    statements = init_warm(warm)
    created, existing = init_cold(catalog, namespace)
    return InitReport(statements, tuple(created), tuple(existing))

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
    cold_documented: tuple[str, ...] = ()


#: MergeTree settings of the warm tables (``ddl/clickhouse``): the first removal of outdated parts
#: (those a merge replaced) runs about a second after start-up instead of 30-40 s. An embedded warm
#: tier (chDB) is started by every command and lives for seconds, so with the defaults outdated
#: parts were never removed and each start-up loaded more of them (``benchmarks/warm_startup.py``:
#: 596 outdated parts and 0.34 s of start-up CPU after 300 merges, against none and 0.08 s).
PROMPT_PART_CLEANUP = "cleanup_delay_period = 1, cleanup_delay_period_random_add = 0"


def init_warm(warm: WarmTier) -> int:
    """Apply every ClickHouse DDL statement (all are ``IF NOT EXISTS``); returns how many ran.

    An embedded warm tier created before its tables carried :data:`PROMPT_PART_CLEANUP` gets the
    settings too (a server cleans up continuously; its existing tables are left as they are).
    """
    statements = clickhouse_statements()
    with warm.session() as client:
        for statement in statements:
            client.command(statement)
        if warm.embedded:
            for name in _tables_without_prompt_cleanup(warm):
                client.command(f"ALTER TABLE `{name}` MODIFY SETTING {PROMPT_PART_CLEANUP}")
    return len(statements)


def _tables_without_prompt_cleanup(warm: WarmTier) -> list[str]:
    names = ", ".join(f"'{spec.name}'" for spec in TABLES)
    rows = warm.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' "
        f"AND name IN ({names}) AND position(create_table_query, 'cleanup_delay_period') = 0"
    )
    return [str(row[0]) for row in rows]


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


def sync_column_docs(table: Table, spec: TableSpec) -> bool:
    """Give an existing cold table the column docs of its DDL; True when it changed anything.

    A schema-only commit (no new snapshot, data and table properties untouched); idempotent.
    """
    current = {field.name: field.doc for field in table.schema().fields}
    wanted = {field.name: field.doc for field in iceberg_ddl(spec).schema.fields if field.doc}
    stale = {name: doc for name, doc in wanted.items() if current.get(name) != doc}
    if not stale:
        return False
    with table.update_schema() as update:
        for name, doc in stale.items():
            update.update_column(name, doc=doc)
    return True


def init_cold(catalog: Catalog, namespace: str) -> tuple[list[str], list[str], list[str]]:
    """Create the namespace and every missing cold table; check and document the ones that exist.

    Returns the tables created, the tables that existed, and those whose column docs were updated.
    """
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(namespace)
    created: list[str] = []
    existing: list[str] = []
    documented: list[str] = []
    for spec in TABLES:
        identifier = cold_identifier(namespace, spec)
        try:
            table = catalog.load_table(identifier)
            check_cold_schema(table, spec)
            existing.append(spec.name)
            if sync_column_docs(table, spec):
                documented.append(spec.name)
            migrate_ledger(catalog, identifier)  # a table written before the ledger property
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
    return created, existing, documented


def init_all(warm: WarmTier, catalog: Catalog, namespace: str) -> InitReport:
    """Create warm and cold tables; running it twice changes nothing."""
    statements = init_warm(warm)
    created, existing, documented = init_cold(catalog, namespace)
    return InitReport(statements, tuple(created), tuple(existing), tuple(documented))

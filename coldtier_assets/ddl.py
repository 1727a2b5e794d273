"""Load the DDL files under ``ddl/``: ClickHouse statements, and Iceberg tables parsed to pyiceberg.

The Iceberg files are Spark SQL (``CREATE TABLE … USING iceberg PARTITIONED BY … TBLPROPERTIES``);
this module understands the subset they use, so one file serves Spark and pyiceberg alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    YearTransform,
)
from pyiceberg.types import NestedField

from coldtier_assets.bundled import bundled_path
from coldtier_assets.column_types import iceberg_type
from coldtier_assets.errors import DdlError
from coldtier_assets.tables import TABLES, TableSpec

DDL_DIR = bundled_path("ddl")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(text: str, variables: dict[str, str]) -> str:
    """Replace ``{{name}}`` placeholders; an unknown name is an error, not an empty string."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise DdlError(f"DDL template placeholder {{{{{name}}}}} has no value")
        return variables[name]

    return _PLACEHOLDER.sub(substitute, text)


def split_statements(sql: str) -> list[str]:
    """Split a file into statements at semicolons that end a line, dropping comment-only parts."""
    statements = []
    for chunk in re.split(r";\s*(?:\n|$)", sql):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            statements.append(body)
    return statements


def clickhouse_statements(ddl_dir: Path = DDL_DIR) -> list[str]:
    """Every ClickHouse statement in file-name order; templates rendered once per matching table."""
    statements: list[str] = []
    for path in sorted((ddl_dir / "clickhouse").iterdir()):
        if path.suffix == ".sql":
            statements += split_statements(path.read_text())
        elif path.name.endswith(".sql.tmpl"):
            template_name = path.name.removesuffix(".sql.tmpl").lstrip("0123456789_")
            for table in TABLES:
                if table.ddl_template == template_name:
                    statements += split_statements(render(path.read_text(), table.template_vars))
    return statements


@dataclass(frozen=True)
class IcebergTableDdl:
    """A cold table as declared in ``ddl/iceberg``: schema, partition spec and table properties."""

    namespace: str
    name: str
    schema: Schema
    partition_spec: PartitionSpec
    properties: dict[str, str]


_CREATE = re.compile(
    r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<ns>\w+)\.(?P<name>\w+)\s*\((?P<columns>.*)\)\s*"
    r"USING\s+iceberg\s*(?:PARTITIONED\s+BY\s*\((?P<partition>[^;]*?)\)\s*)?"
    r"(?:TBLPROPERTIES\s*\((?P<props>.*)\))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_COLUMN = re.compile(
    r"^(?P<name>\w+)\s+(?P<type>\w+(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?)(?P<not_null>\s+NOT\s+NULL)?"
    r"(?:\s+COMMENT\s+'(?P<comment>[^']*)')?$",
    re.IGNORECASE,
)
_PROPERTY = re.compile(r"'([^']+)'\s*=\s*'([^']*)'")


def _transform(expression: str) -> tuple[str, Transform[Any, Any], str]:
    expression = expression.strip()
    if match := re.fullmatch(r"bucket\(\s*(\d+)\s*,\s*(\w+)\s*\)", expression, re.IGNORECASE):
        column = match.group(2)
        return column, BucketTransform(int(match.group(1))), f"{column}_bucket"
    if match := re.fullmatch(r"(\w+)\(\s*(\w+)\s*\)", expression):
        transforms: dict[str, tuple[Transform[Any, Any], str]] = {
            "years": (YearTransform(), "year"),
            "months": (MonthTransform(), "month"),
            "days": (DayTransform(), "day"),
            "hours": (HourTransform(), "hour"),
        }
        function, column = match.group(1).lower(), match.group(2)
        if function not in transforms:
            raise DdlError(f"unsupported partition transform {expression!r}")
        transform, suffix = transforms[function]
        return column, transform, f"{column}_{suffix}"
    if re.fullmatch(r"\w+", expression):
        return expression, IdentityTransform(), expression
    raise DdlError(f"unsupported partition expression {expression!r}")


def parse_iceberg_ddl(sql: str) -> IcebergTableDdl:
    """Parse one ``CREATE TABLE … USING iceberg`` statement into schema, partition spec, properties."""
    statements = split_statements(sql)
    if len(statements) != 1:
        raise DdlError(f"expected one CREATE TABLE statement, found {len(statements)}")
    match = _CREATE.match(statements[0])
    if not match:
        raise DdlError(f"not a CREATE TABLE … USING iceberg statement: {statements[0][:80]!r}")
    fields = []
    for line in match.group("columns").splitlines():
        line = line.strip().rstrip(",").strip()
        if not line:
            continue
        column = _COLUMN.match(line)
        if not column:
            raise DdlError(f"cannot parse column definition {line!r}")
        fields.append(
            NestedField(
                field_id=len(fields) + 1,
                name=column.group("name"),
                field_type=iceberg_type(column.group("type")),
                required=column.group("not_null") is not None,
                doc=column.group("comment"),
            )
        )
    schema = Schema(*fields)
    partition_fields = []
    for expression in (match.group("partition") or "").split(",") if match.group("partition") else []:
        column, transform, name = _transform(expression)
        source = schema.find_field(column)
        partition_fields.append(
            PartitionField(
                source_id=source.field_id,
                field_id=1000 + len(partition_fields),
                transform=transform,
                name=name,
            )
        )
    properties = dict(_PROPERTY.findall(match.group("props") or ""))
    return IcebergTableDdl(
        namespace=match.group("ns"),
        name=match.group("name"),
        schema=schema,
        partition_spec=PartitionSpec(*partition_fields),
        properties=properties,
    )


def iceberg_ddl(table: TableSpec, ddl_dir: Path = DDL_DIR) -> IcebergTableDdl:
    """The parsed Iceberg DDL of one registry table (from its own file or its template)."""
    if table.ddl_template:
        sql = render(
            (ddl_dir / "iceberg" / f"{table.ddl_template}.sql.tmpl").read_text(), table.template_vars
        )
    else:
        sql = (ddl_dir / "iceberg" / f"{table.name}.sql").read_text()
    parsed = parse_iceberg_ddl(sql)
    if parsed.name != table.name:
        raise DdlError(f"ddl/iceberg for {table.name} declares table {parsed.name!r}")
    return parsed

import pytest
from pyiceberg.transforms import DayTransform, MonthTransform
from pyiceberg.types import DecimalType, IcebergType, TimestamptzType

from coldtier_assets.ddl import clickhouse_statements, iceberg_ddl, parse_iceberg_ddl, render
from coldtier_assets.errors import DdlError
from coldtier_assets.offload.source_schema import clickhouse_type_fits
from coldtier_assets.tables import EXCHANGES, TABLES, get_table

EXCHANGES_NAMES = [exchange.name for exchange in EXCHANGES]


def test_eleven_cold_tables_with_zstd_level_3_and_layer_partitioning() -> None:
    assert len(TABLES) == 11
    for spec in TABLES:
        ddl = iceberg_ddl(spec)
        assert ddl.properties["write.parquet.compression-codec"] == "zstd"
        assert ddl.properties["write.parquet.compression-level"] == "3"
        (field,) = ddl.partition_spec.fields
        source = ddl.schema.find_field(field.source_id).name
        assert source == spec.time_column
        assert isinstance(field.transform, MonthTransform if spec.layer == "gold" else DayTransform)
        assert all(f.required for f in ddl.schema.fields)


def test_prices_are_exact_decimals() -> None:
    silver = iceberg_ddl(get_table("silver_trades")).schema
    assert silver.find_field("price").field_type == DecimalType(18, 8)
    assert silver.find_field("quote_amount").field_type == DecimalType(38, 16)
    assert silver.find_field("trade_time").field_type == TimestamptzType()


def test_clickhouse_ddl_has_tables_views_and_one_gold_view_per_interval() -> None:
    statements = clickhouse_statements()
    gold = [s for s in statements if s.startswith("CREATE VIEW IF NOT EXISTS gold_ohlcv_")]
    assert len(gold) == 6
    views = [s.split()[6] for s in statements if s.startswith("CREATE MATERIALIZED VIEW")]
    assert sorted(views) == sorted(
        f"mv_{kind}_from_{x}" for kind in ("silver", "rejected") for x in EXCHANGES_NAMES
    )
    (function,) = [s for s in statements if s.startswith("CREATE FUNCTION")]
    assert "coldtier_trade_problems" in function


def test_unknown_placeholder_and_bad_ddl_are_clear_errors() -> None:
    with pytest.raises(DdlError, match="placeholder"):
        render("{{missing}}", {})
    with pytest.raises(DdlError, match="unsupported column type"):
        parse_iceberg_ddl("CREATE TABLE cold.t (a GEOMETRY) USING iceberg")
    with pytest.raises(DdlError, match="not a CREATE TABLE"):
        parse_iceberg_ddl("DROP TABLE cold.t")


@pytest.mark.parametrize(
    ("ch_type", "cold_type", "fits"),
    [
        ("Decimal(18, 8)", DecimalType(18, 8), True),
        (
            "Nullable(Decimal(18, 8))",
            DecimalType(18, 8),
            True,
        ),  # the type fits; NOT NULL is checked per column
        ("Decimal(10, 8)", DecimalType(18, 8), True),  # fewer integer digits, same scale: lossless
        ("Float64", DecimalType(18, 8), False),
        ("Decimal(18, 6)", DecimalType(18, 8), False),
        ("Decimal(38, 8)", DecimalType(18, 8), False),
        ("DateTime64(6, 'UTC')", TimestamptzType(), True),
        ("DateTime64(3, 'UTC')", TimestamptzType(), True),
        ("DateTime", TimestamptzType(), False),  # arrives as UInt32 seconds
        ("DateTime('UTC')", TimestamptzType(), False),
        ("DateTime64(9, 'UTC')", TimestamptzType(), False),  # nanoseconds do not fit microseconds
    ],
)
def test_source_type_compatibility(ch_type: str, cold_type: IcebergType, fits: bool) -> None:
    assert clickhouse_type_fits(ch_type, cold_type) is fits

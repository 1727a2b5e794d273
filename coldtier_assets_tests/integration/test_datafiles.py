"""The slice writer: one file per single-partition slice, correct partitions and stats, read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings
from coldtier_assets.offload.datafiles import DataFileWriter

pytestmark = pytest.mark.integration

MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)


def _trades(times: list[datetime]) -> list[dict[str, object]]:
    return [
        {
            "exchange": "kraken",
            "symbol": "BTC/USD",
            "trade_id": n,
            "price": Decimal("90000.12345678"),
            "quantity": Decimal("0.5"),
            "quote_amount": Decimal("45000.0617283900000000"),
            "side": "buy",
            "trade_time": moment,
            "ingested_at": moment,
        }
        for n, moment in enumerate(times)
    ]


def _commit(catalog: SqlCatalog, settings: Settings, rows: list[dict[str, object]]) -> tuple[int, set[str]]:
    """Write ``rows`` as one slice, commit the files, and return (files, partition paths)."""
    table = catalog.load_table((settings.namespace, "silver_trades"))
    writer = DataFileWriter(table)
    writer.write(pa.Table.from_pylist(rows, schema=writer.arrow_schema))
    with table.transaction() as transaction, transaction.update_snapshot().fast_append() as append:
        for file in writer.files:
            append.append_data_file(file)
    return len(writer.files), {file.file_path.rsplit("/", 2)[1] for file in writer.files}


def test_a_slice_in_one_day_is_one_file_with_its_partition_and_field_ids(
    initialized: Settings, catalog: SqlCatalog
) -> None:
    times = [MIDNIGHT + timedelta(hours=12, seconds=s) for s in range(100)]
    files, partitions = _commit(catalog, initialized, _trades(times))
    assert (files, partitions) == (1, {"trade_time_day=2026-11-24"})

    table = catalog.load_table((initialized.namespace, "silver_trades"))
    (task,) = table.scan().plan_files()
    assert task.file.record_count == 100
    path = task.file.file_path.removeprefix("file://")
    field_ids = [
        pq.read_schema(path).field(name).metadata[b"PARQUET:field_id"] for name in ("trade_id", "side")
    ]
    assert field_ids == [b"3", b"7"]
    group = pq.ParquetFile(path).metadata.row_group(0)
    assert "RLE_DICTIONARY" in group.column(6).encodings  # side: a string column, dictionary-encoded
    assert "RLE_DICTIONARY" not in group.column(3).encodings  # price: near-unique, plain
    back = table.scan().to_arrow().sort_by("trade_id").to_pylist()
    assert back == _trades(times)
    # Bounds from the footer let a scan of another day skip the file without reading it.
    other_day = table.scan(row_filter="trade_time >= '2026-11-25T00:00:00+00:00'")
    assert not list(other_day.plan_files())


def test_a_slice_across_midnight_falls_back_to_one_file_per_day(
    initialized: Settings, catalog: SqlCatalog
) -> None:
    times = [MIDNIGHT + timedelta(seconds=s) for s in range(-30, 30)]
    files, partitions = _commit(catalog, initialized, _trades(times))
    assert (files, partitions) == (2, {"trade_time_day=2026-11-23", "trade_time_day=2026-11-24"})
    back = catalog.load_table((initialized.namespace, "silver_trades")).scan().to_arrow()
    assert sorted(back.column("trade_id").to_pylist()) == list(range(60))

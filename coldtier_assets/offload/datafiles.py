"""Write Arrow slices as Iceberg Parquet data files (not yet committed).

pyiceberg's generic writer splits every slice by partition (group-by, filter, copy of all columns)
and dictionary-encodes every column. A coldtier window never spans two partitions of its table, so
:class:`DataFileWriter` checks that a slice lies in one partition (from the transformed partition
source columns, no copy) and streams it straight to one Parquet file with the table's field ids,
codec and row-group limit, dictionary-encoding only string columns (measured in
``benchmarks/RESULTS.md``: the decimal and timestamp columns of trades are near-unique, so a
dictionary there costs time and makes files larger). A slice that spans partitions falls back to
pyiceberg's writer. File statistics (bounds, counts) come from the Parquet footer exactly as
pyiceberg computes them.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.io.pyarrow import (
    _dataframe_to_data_files,
    _get_parquet_writer_kwargs,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    schema_to_pyarrow,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.locations import load_location_provider
from pyiceberg.typedef import Record
from pyiceberg.utils.properties import property_as_int

log = logging.getLogger(__name__)


class DataFileWriter:
    """Writes Arrow slices of one window as Parquet data files of a table (one file per slice)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.write_uuid = uuid.uuid4()
        self.counter = itertools.count(0)
        self.files: list[DataFile] = []
        metadata = table.metadata
        self._schema = metadata.schema()
        self._spec = metadata.spec()
        self.arrow_schema: pa.Schema = schema_to_pyarrow(self._schema, include_field_ids=True)
        string_columns = [
            field.name
            for field in self.arrow_schema
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        ]
        self._writer_kwargs: dict[str, Any] = {
            **_get_parquet_writer_kwargs(metadata.properties),
            "use_dictionary": string_columns,
            "store_decimal_as_integer": True,  # as pyiceberg writes decimals
        }
        self._row_group_rows = property_as_int(
            metadata.properties,
            TableProperties.PARQUET_ROW_GROUP_LIMIT,
            TableProperties.PARQUET_ROW_GROUP_LIMIT_DEFAULT,
        )
        self._statistics_plan = compute_statistics_plan(self._schema, metadata.properties)
        self._column_ids = parquet_path_to_id_mapping(self._schema)
        self._locations = load_location_provider(metadata.location, metadata.properties)

    def write(self, data: pa.Table) -> None:
        """Write one slice (columns as the table's schema, in order); empty slices write nothing."""
        if not data.num_rows:
            return
        data = data.cast(self.arrow_schema)  # attaches the field ids; a no-op copy-wise otherwise
        partition_key = self._single_partition(data)
        if partition_key is None and not self._spec.is_unpartitioned():
            self.files += _dataframe_to_data_files(
                table_metadata=self.table.metadata,
                df=data,
                io=self.table.io,
                write_uuid=self.write_uuid,
                counter=self.counter,
            )
            return
        path = self._locations.new_data_location(
            data_file_name=f"00000-{next(self.counter)}-{self.write_uuid}.parquet",
            partition_key=partition_key,
        )
        output = self.table.io.new_output(path)
        with output.create(overwrite=True) as stream:
            with pq.ParquetWriter(
                cast(IO[Any], stream), schema=data.schema, **self._writer_kwargs
            ) as parquet_writer:
                parquet_writer.write_table(data, row_group_size=self._row_group_rows)
            parquet_metadata = parquet_writer.writer.metadata
        statistics = data_file_statistics_from_parquet_metadata(
            parquet_metadata=parquet_metadata,
            stats_columns=self._statistics_plan,
            parquet_column_mapping=self._column_ids,
        )
        self.files.append(
            DataFile.from_args(
                content=DataFileContent.DATA,
                file_path=path,
                file_format=FileFormat.PARQUET,
                partition=partition_key.partition if partition_key else Record(),
                file_size_in_bytes=len(output),
                sort_order_id=None,
                spec_id=self.table.metadata.default_spec_id,
                equality_ids=None,
                key_metadata=None,
                **statistics.to_serialized_dict(),
            )
        )

    def _single_partition(self, data: pa.Table) -> PartitionKey | None:
        """The slice's partition key when all its rows share one partition, else ``None``."""
        if self._spec.is_unpartitioned():
            return None
        values = []
        for partition_field in self._spec.fields:
            source = self._schema.find_field(partition_field.source_id)
            column = data.column(source.name)
            if column.null_count not in (0, len(column)):
                return None
            transformed = partition_field.transform.pyarrow_transform(source.field_type)(column)
            bounds = pc.min_max(transformed)  # pyright: ignore[reportAttributeAccessIssue]
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low != high:
                return None
            values.append(PartitionFieldValue(field=partition_field, value=low))
        return PartitionKey(field_values=values, partition_spec=self._spec, schema=self._schema)

    @property
    def bytes_written(self) -> int:
        """Total Parquet bytes of the files written so far."""
        return sum(file.file_size_in_bytes for file in self.files)

    def discard(self) -> None:
        """Delete the written files (after a failure, so nothing half-written is left behind)."""
        for file in self.files:
            try:
                self.table.io.delete(file.file_path)
            except Exception:  # best effort: orphan-file removal catches what is left
                log.warning("could not delete uncommitted data file %s", file.file_path, exc_info=True)
        self.files = []

"""Spark's compaction is limited to the planned partitions: partition ordinals back to time ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pyiceberg.transforms import DayTransform, HourTransform, IdentityTransform, MonthTransform, YearTransform
from pyiceberg.types import TimestamptzType

from coldtier_assets.maintenance.compaction_plan import ordinal_range
from coldtier_assets.maintenance.spark_engine import spark_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MOMENTS = [
    datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 12, 31, 0, 0, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 30, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 0, tzinfo=UTC),
]


@pytest.mark.parametrize("transform", [YearTransform(), MonthTransform(), DayTransform(), HourTransform()])
@pytest.mark.parametrize("moment", MOMENTS)
def test_the_range_of_a_partition_holds_exactly_its_instants(transform: object, moment: datetime) -> None:
    to_ordinal = transform.transform(TimestamptzType())  # type: ignore[attr-defined]
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    ordinal = to_ordinal(micros)
    bounds = ordinal_range(transform, ordinal)
    assert bounds is not None
    start, end = bounds
    assert start <= moment < end
    before_start = (start - EPOCH) // timedelta(microseconds=1) - 1
    assert to_ordinal(before_start) == ordinal - 1  # the range starts exactly at the partition's edge
    assert to_ordinal((end - EPOCH) // timedelta(microseconds=1)) == ordinal + 1  # and ends at the next


def test_other_transforms_have_no_time_range() -> None:
    assert ordinal_range(IdentityTransform(), 5) is None


def test_spark_timestamps_are_utc_to_the_millisecond() -> None:
    moment = datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC)
    assert spark_timestamp(moment) == "TIMESTAMP '2026-11-24 01:02:03.456'"
    assert spark_timestamp(moment.astimezone(timezone(timedelta(hours=2)))) == spark_timestamp(moment)

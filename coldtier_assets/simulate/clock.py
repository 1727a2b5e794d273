"""Nanosecond time for the simulator: the units, and exact conversions from and to datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(moment: datetime) -> int:
    """Convert a datetime (naive means UTC) to nanoseconds since the Unix epoch, exactly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1_000


def from_ns(ns: int) -> datetime:
    """Convert nanoseconds since the Unix epoch to a UTC datetime (truncated to microseconds)."""
    return _EPOCH + timedelta(microseconds=ns // 1_000)

"""Typed, documented exceptions: every failure coldtier reports names what is wrong and where."""

from __future__ import annotations


class ColdtierError(Exception):
    """Base class of every error coldtier raises on purpose."""


class ConfigError(ColdtierError):
    """A setting has a wrong value; the message names its environment variable."""


class WarmTierUnavailableError(ColdtierError):
    """The warm tier (ClickHouse server or embedded chDB) cannot be reached or opened."""


class WarmQueryError(ColdtierError):
    """ClickHouse rejected or failed a query on the warm tier (the message is ClickHouse's)."""


class WarmTableMissingError(ColdtierError):
    """A ClickHouse source table does not exist (run `coldtier init`, or check the DSN's database)."""


class SchemaDriftError(ColdtierError):
    """A source table's columns no longer match the cold table's DDL (missing column or changed type)."""


class NullViolationError(ColdtierError):
    """A source row holds NULL in a column that the cold table's DDL declares NOT NULL."""


class WarmDataPurgedError(ColdtierError):
    """A re-copy would shrink a cold window (warm holds fewer rows, or retention dropped the day): refused."""


class CommitError(ColdtierError):
    """An Iceberg commit could not be completed; whether it landed is not known (files are kept)."""


class CommitNotLandedError(CommitError):
    """Every commit attempt was refused and fresh metadata proves the commit is absent: safe to clean up."""


class WarehouseError(ColdtierError):
    """The cold tier's object store cannot be used (unreachable endpoint, missing bucket, refused access)."""


class WarehouseBucketMissingError(WarehouseError):
    """The bucket of an ``s3://bucket/prefix`` warehouse does not exist (coldtier never creates buckets)."""


class WarehouseAccessDeniedError(WarehouseError):
    """The object store refused the credentials (unknown key, wrong secret, or no permission on the prefix)."""


class DdlError(ColdtierError):
    """A file under ddl/ cannot be parsed or applied."""

"""Thin Dagster resources over the Dagster-free warm tier, Iceberg catalog and Spark session."""

from __future__ import annotations

import dataclasses
import os
import threading
from functools import cached_property
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.resources.spark import build_spark_session
from coldtier_assets.resources.warm_reader import IsolatedWarmReader

_WARM_TIERS: dict[str, WarmTier] = {}
_WARM_TIERS_LOCK = threading.Lock()


def shared_warm_tier(dsn: str) -> WarmTier:
    """One :class:`WarmTier` per DSN and process, so its in-process lock covers every thread."""
    with _WARM_TIERS_LOCK:
        if dsn not in _WARM_TIERS:
            _WARM_TIERS[dsn] = WarmTier(dsn)
        return _WARM_TIERS[dsn]


def _from_env(variable: str, value: str) -> str:
    """``dg.EnvVar(variable)`` when the environment holds ``value`` there, else ``value`` itself."""
    if os.environ.get(variable) == value:
        return dg.EnvVar(variable)  # a str subclass that Dagster resolves at run time
    return value


class ColdtierResource(dg.ConfigurableResource):
    """The warm tier, the Iceberg catalog and the offload settings, as one Dagster resource.

    Fields default to :func:`~coldtier_assets.config.load_settings` (environment variables with the
    embedded defaults); set them explicitly, or with ``dg.EnvVar``, to override.
    """

    warm_dsn: str
    catalog_uri: str
    warehouse: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ColdtierResource:
        """A resource configured from the process settings.

        A value that comes from an environment variable is passed as ``dg.EnvVar``, so Dagster
        resolves it at run time and its UI shows the variable's name, never the password in it.
        """
        return cls(
            warm_dsn=_from_env("COLDTIER_WARM_DSN", settings.warm_dsn),
            catalog_uri=_from_env("COLDTIER_CATALOG_URI", settings.catalog_uri),
            warehouse=_from_env("COLDTIER_WAREHOUSE", settings.warehouse),
        )

    @cached_property
    def settings(self) -> Settings:
        """The process settings, with this resource's connection fields applied."""
        return dataclasses.replace(
            load_settings(), warm_dsn=self.warm_dsn, catalog_uri=self.catalog_uri, warehouse=self.warehouse
        )

    @property
    def warm(self) -> WarmTier:
        """The process-wide warm tier for this DSN."""
        return shared_warm_tier(self.warm_dsn)

    def warm_reader(self) -> IsolatedWarmReader:
        """Read-only warm queries for sensors (code-server processes live for months; see warm_reader)."""
        return IsolatedWarmReader(self.warm_dsn)

    def catalog(self) -> SqlCatalog:
        """A fresh catalog connection (one per thread)."""
        return open_catalog(self.settings)

    def offloader(self, force: bool = False) -> Offloader:
        """The offload core wired to this resource (``force``: bypass the purge guard)."""
        return Offloader(self.settings, self.warm, self.catalog, force=force)


class ColdtierSparkResource(LazyPySparkResource):
    """dagster-pyspark's lazily created Spark session, on coldtier's catalog (the maintenance engine).

    The session starts on first use of ``spark_session`` (so a pyiceberg maintenance run never starts
    a JVM), from :func:`~coldtier_assets.resources.spark.spark_conf` of the process settings with this
    resource's catalog and warehouse: the master and executor settings from ``COLDTIER_SPARK_MASTER`` /
    ``COLDTIER_SPARK_CONF``, the jars, the Iceberg extensions and the JDBC catalog with its credentials.
    Those are computed at run time and never stored in the resource's config, so the UI shows no
    password (the catalog URI is a ``dg.EnvVar`` as in :class:`ColdtierResource`); ``spark_config``
    only holds extra settings given in code (they win).
    """

    catalog_uri: str
    warehouse: str
    spark_config: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> ColdtierSparkResource:
        """A resource on the settings' catalog (values from the environment passed as ``dg.EnvVar``)."""
        return cls(
            catalog_uri=_from_env("COLDTIER_CATALOG_URI", settings.catalog_uri),
            warehouse=_from_env("COLDTIER_WAREHOUSE", settings.warehouse),
        )

    def _init_session(self) -> None:
        # dagster-pyspark's hook (pinned 0.29.27) builds a plain getOrCreate() session; coldtier's also
        # checks the JVM's jars and gives each catalog its own session on a shared SparkContext.
        if self._spark_session is None:
            settings = dataclasses.replace(
                load_settings(), catalog_uri=self.catalog_uri, warehouse=self.warehouse
            )
            extra = {key: str(value) for key, value in self.spark_config.items()}
            self._spark_session = build_spark_session(
                settings, app_name="coldtier-maintenance", extra_conf=extra
            )

"""Shared pytest fixtures: an embedded coldtier (real chDB, real SQLite catalog) per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings, load_settings
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog

#: A fixed, fully closed day for tests: 2026-11-24 (UTC).
DAY = datetime(2026, 11, 24, tzinfo=UTC)


def embedded_env(home: Path, **overrides: str) -> dict[str, str]:
    """Environment variables for an embedded coldtier under ``home``."""
    return {"COLDTIER_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), **overrides}


@pytest.fixture
def coldtier_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the process environment at a fresh embedded coldtier home."""
    env = embedded_env(tmp_path / "coldtier")
    for name in (
        "COLDTIER_WARM_DSN",
        "COLDTIER_CATALOG_URI",
        "COLDTIER_WAREHOUSE",
        "COLDTIER_DAGSTER_PG_URL",
        "COLDTIER_S3_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def settings(coldtier_env: dict[str, str]) -> Settings:
    """Settings of the fresh embedded coldtier."""
    return load_settings(coldtier_env)


@pytest.fixture
def warm(settings: Settings) -> WarmTier:
    """The embedded warm tier (real chDB)."""
    return WarmTier(settings.warm_dsn)


@pytest.fixture
def catalog(settings: Settings) -> SqlCatalog:
    """The embedded Iceberg catalog (real SQLite)."""
    return open_catalog(settings)


@pytest.fixture
def initialized(settings: Settings, warm: WarmTier, catalog: SqlCatalog) -> Iterator[Settings]:
    """Warm and cold tables created from ddl/."""
    init_all(warm, catalog, settings.namespace)
    yield settings


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_backend(
    request: pytest.FixtureRequest, coldtier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """Parametrizes a test over both catalog databases: SQLite (embedded) and a real PostgreSQL."""
    if request.param == "postgresql":
        url = request.getfixturevalue("fresh_pg_database")
        monkeypatch.setenv("COLDTIER_CATALOG_URI", url)
        coldtier_env["COLDTIER_CATALOG_URI"] = url
    return str(request.param)


@pytest.fixture
def s3_warehouse(
    request: pytest.FixtureRequest, coldtier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point the coldtier environment at ``s3://<fresh bucket>/warehouse`` on the session's moto server."""
    server = request.getfixturevalue("s3_server")
    warehouse = f"s3://{server.new_bucket()}/warehouse"
    for name, value in server.env(warehouse).items():
        monkeypatch.setenv(name, value)
        coldtier_env[name] = value
    return warehouse


@pytest.fixture(params=["local", "s3"])
def warehouse_backend(request: pytest.FixtureRequest, coldtier_env: dict[str, str]) -> str:
    """Parametrizes a test over both warehouses: a local directory and a real S3 server (moto)."""
    if request.param == "s3":
        request.getfixturevalue("s3_warehouse")
    return str(request.param)

"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coldtier_assets_tests.postgres_server import create_database, drop_database, running_postgres
from coldtier_assets_tests.s3_server import S3Server, running_s3

# The embedded-coldtier fixtures (settings, warm, catalog, initialized, ...).
pytest_plugins = ("coldtier_assets_tests.fixtures",)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real throwaway PostgreSQL 15 server for the whole session: the URL of its first database."""
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 server (moto's standalone server, IAM authentication on) for the whole session."""
    with running_s3() as server:
        yield server


@pytest.fixture
def fresh_pg_database(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL server, dropped after the test."""
    url = create_database(postgres_url)
    yield url
    drop_database(postgres_url, url.rsplit("/", 1)[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under integration/ needs real services: mark it, so `-m "not integration"` skips it."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)

"""An unknown commit outcome never deletes written files: a lost reply, a run terminated mid-commit.

Both faults are real: a subclass of the real ``SqlCatalog`` whose commit lands and then loses its
reply (and whose next ``load_table`` calls fail, as a catalog that just went away), and a real
Dagster run in a child process that receives a real SIGINT right after the catalog committed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from coldtier_assets.config import Settings
from coldtier_assets.errors import CommitNotLandedError
from coldtier_assets.maintenance.orphans import referenced_files
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.sink import read_ledger
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog, sqlalchemy_uri
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import get_table
from coldtier_assets_tests.compare import assert_window_matches
from coldtier_assets_tests.fixtures import DAY

START = DAY + timedelta(hours=22)
M15 = timedelta(minutes=15)
SILVER = get_table("silver_trades")


class LostReplyCatalog(SqlCatalog):
    """The real SQL catalog; its first commit lands, then the reply is lost and the catalog goes away.

    After the lost reply, the next ``unreachable_loads`` ``load_table`` calls fail.
    """

    def __init__(self, settings: Settings, unreachable_loads: int) -> None:
        super().__init__(
            settings.catalog_name, uri=sqlalchemy_uri(settings.catalog_uri), warehouse=settings.warehouse
        )
        self.armed = True
        self.unreachable_loads = unreachable_loads
        self.unreachable_loads_after_fault = 0

    def commit_table(self, table: Any, *args: Any, **kwargs: Any) -> Any:
        """Commit for real; the first time, then raise as if the connection dropped before the reply."""
        response = super().commit_table(table, *args, **kwargs)
        if self.armed:
            self.armed = False
            self.unreachable_loads_after_fault = self.unreachable_loads
            raise ConnectionResetError("connection to the catalog database lost before the reply")
        return response

    def load_table(self, identifier: Any) -> Any:
        """Load the table, failing while the catalog is unreachable after the fault."""
        if self.unreachable_loads_after_fault > 0:
            self.unreachable_loads_after_fault -= 1
            raise ConnectionRefusedError("catalog database unreachable")
        return super().load_table(identifier)


@pytest.fixture
def fed(initialized: Settings, warm: WarmTier) -> Settings:
    """Fifteen minutes of simulated trades in the warm tier."""
    simulate_history(warm, START, START + M15, seed=5, trades_per_second=10)
    return initialized


def assert_every_referenced_file_exists(catalog: SqlCatalog, settings: Settings) -> None:
    """Every file the current metadata references is on disk, and the table scans."""
    table = catalog.load_table((settings.namespace, SILVER.name))
    missing = sorted(path for path in referenced_files(table) if not Path(path).exists())
    assert not missing, f"the table references deleted files: {missing[:3]}"
    table.scan().to_arrow()


@pytest.mark.parametrize("unreachable_loads", [1, 2])
def test_a_commit_that_landed_and_lost_its_reply_keeps_its_files(
    unreachable_loads: int, fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    faulty = LostReplyCatalog(fed, unreachable_loads)
    copier = Offloader(fed, warm, lambda: faulty)
    # resolved by reading the table back, or (catalog still away) the run fails and keeps the files
    with contextlib.suppress(ConnectionError):
        copier.offload(SILVER, START, START + M15, run_id="lost-reply")
    assert not faulty.armed, "the fault was injected"
    assert read_ledger(catalog.load_table((fed.namespace, SILVER.name))).watermark == START + M15
    assert_every_referenced_file_exists(catalog, fed)

    Offloader(fed, warm, lambda: catalog).offload(SILVER, START, START + M15, run_id="rerun")
    assert_every_referenced_file_exists(catalog, fed)
    assert assert_window_matches(warm, catalog, fed.namespace, SILVER, START, START + M15) > 0


def _wait_for(path: Path, child: subprocess.Popen[str]) -> None:
    """Wait until the child created ``path`` (it holds right after the catalog commit) or died."""
    while not path.exists():
        if child.poll() is not None:
            _, stderr = child.communicate()
            pytest.fail(f"the child ended before holding in the commit: {stderr[-3000:]}")
        time.sleep(0.1)


def test_a_dagster_run_terminated_in_the_middle_of_the_commit_keeps_its_files(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog, coldtier_env: dict[str, str], tmp_path: Path
) -> None:
    from coldtier_assets.cli.instance import prepare_dagster_home

    prepare_dagster_home(fed)
    marker = tmp_path / "held-after-commit-sql"
    key = START.strftime("%Y-%m-%d-%H:%M")
    module = "coldtier_assets_tests.integration.offload_child"
    env = {**os.environ, **coldtier_env, "COLDTIER_TEST_HOLD_MARKER": str(marker)}
    child = subprocess.Popen(
        [sys.executable, "-m", module, "dagster-hold-after-commit-sql", SILVER.name, key, key],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(marker, child)
        child.send_signal(signal.SIGINT)  # Dagster terminates a run by interrupting its process
        _, stderr = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0, "the run should have been terminated"
    assert "Interrupt" in stderr, stderr[-3000:]
    assert read_ledger(catalog.load_table((fed.namespace, SILVER.name))).watermark == START + M15
    assert_every_referenced_file_exists(catalog, fed)

    rerun = subprocess.run(
        [sys.executable, "-m", module, "dagster-plain", SILVER.name, key, key],
        env={**os.environ, **coldtier_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_every_referenced_file_exists(catalog, fed)
    assert assert_window_matches(warm, catalog, fed.namespace, SILVER, START, START + M15) > 0


class AlwaysConflictingCatalog(SqlCatalog):
    """The real SQL catalog; a real second writer commits right before each of our next commits.

    Every commit attempt of the offload then meets a definite conflict (the table moved on).
    """

    def __init__(self, settings: Settings, conflicts: int) -> None:
        super().__init__(
            settings.catalog_name, uri=sqlalchemy_uri(settings.catalog_uri), warehouse=settings.warehouse
        )
        self.other_writer = open_catalog(settings)
        self.conflicts = conflicts

    def commit_table(self, table: Any, *args: Any, **kwargs: Any) -> Any:
        """Let the other writer commit first (while conflicts remain), then commit for real."""
        if self.conflicts > 0:
            self.conflicts -= 1
            transaction = self.other_writer.load_table(table.name()).transaction()
            with transaction.update_snapshot(snapshot_properties={"writer": "someone-else"}).fast_append():
                pass
            transaction.commit_transaction()
        return super().commit_table(table, *args, **kwargs)


def test_a_commit_known_not_to_have_landed_removes_its_files(
    fed: Settings, warm: WarmTier, catalog: SqlCatalog
) -> None:
    location = Path(catalog.load_table((fed.namespace, SILVER.name)).location().removeprefix("file://"))
    conflicting = AlwaysConflictingCatalog(fed, conflicts=8)  # commit_window's eight attempts
    with pytest.raises(CommitNotLandedError):
        Offloader(fed, warm, lambda: conflicting).offload(SILVER, START, START + M15, run_id="conflicts")
    assert not list(location.rglob("*.parquet")), "files of a commit that did not land are removed"
    assert read_ledger(catalog.load_table((fed.namespace, SILVER.name))).watermark is None

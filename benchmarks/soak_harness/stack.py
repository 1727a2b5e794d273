"""The system under test: PostgreSQL, a small warehouse filesystem, Dagster's webserver and daemon, the feed.

Everything is started from installed binaries into one output directory. PostgreSQL holds both the
Iceberg catalog and the Dagster instance. The warehouse lives on a tmpfs the harness mounts (so a
"disk full" is a real ENOSPC); where mounting is not allowed it is a plain directory and the
disk-full fault is skipped (the report says so).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coldtier_assets.cli.devserver import (
    daemon_command,
    start_process,
    stop_process,
    wait_for_webserver,
    webserver_command,
)
from coldtier_assets.cli.instance import prepare_dagster_home
from coldtier_assets.config import Settings, load_settings
from coldtier_assets.offload.bootstrap import init_all
from coldtier_assets.offload.pipeline import Offloader
from coldtier_assets.offload.windows import closed_window_end
from coldtier_assets.resources.clickhouse import WarmTier
from coldtier_assets.resources.iceberg import open_catalog
from coldtier_assets.simulate.feed import simulate_history
from coldtier_assets.tables import TABLES
from coldtier_assets_tests.postgres_server import PostgresServer, create_database, postgres_server

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackOptions:
    """How the stack runs: feed rate, lateness, timeouts (the soak's knobs)."""

    out: Path
    seed: int
    rate: float = 5.0
    lateness_seconds: int = 15
    history_minutes: int = 10
    warm_lock_timeout_seconds: int = 20
    monitor_poll_seconds: int = 20
    warehouse_mib: int = 512
    late_fraction: float = 0.0
    bad_every_seconds: float = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mount_tmpfs(target: Path, mib: int) -> bool:
    """Mount a tmpfs of ``mib`` MiB on ``target``; False when the machine does not allow it."""
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(target)], capture_output=True, check=False
    )
    return result.returncode == 0


@dataclass
class Stack:
    """The running soak stack; every process it started is stopped by :meth:`close`."""

    options: StackOptions
    settings: Settings
    env: dict[str, str]
    pg: PostgresServer
    warehouse_dir: Path
    tmpfs: bool
    url: str
    history_start: datetime
    daemon: subprocess.Popen[bytes] | None = None
    webserver: subprocess.Popen[bytes] | None = None
    feed: subprocess.Popen[bytes] | None = None
    unexpected_exits: dict[str, int] = field(default_factory=dict)
    groups: list[int] = field(default_factory=list)  # every process group started (left-overs die at close)
    _exit: ExitStack = field(default_factory=ExitStack)

    @property
    def logs(self) -> Path:
        """Directory of the processes' logs."""
        return self.options.out / "logs"

    @property
    def roots(self) -> list[int]:
        """Pids of the Dagster processes whose descendants (code servers, run workers) are ours."""
        return [p.pid for p in (self.daemon, self.webserver) if p is not None and p.poll() is None]

    def start_daemon(self) -> None:
        """Start (or restart) the Dagster daemon."""
        self.daemon = start_process(daemon_command(), self.env, self.logs / "daemon.log")
        self.groups.append(self.daemon.pid)

    def start_webserver(self) -> None:
        """Start the Dagster webserver and wait until it answers."""
        port = int(self.url.rsplit(":", 1)[1])
        self.webserver = start_process(webserver_command(port), self.env, self.logs / "webserver.log")
        self.groups.append(self.webserver.pid)
        wait_for_webserver(self.url, self.webserver, timeout=300)

    def start_feed(self) -> None:
        """Start the live feed process (trades, resends, invalid trades)."""
        feed_env = {**self.env, "COLDTIER_WARM_LOCK_TIMEOUT_SECONDS": "3600"}
        command = [
            sys.executable,
            "-m",
            "benchmarks.soak_harness.feed",
            "--rate",
            str(self.options.rate),
            "--seed",
            str(self.options.seed),
            "--late-fraction",
            str(self.options.late_fraction),
            "--bad-every",
            str(self.options.bad_every_seconds),
            "--out",
            str(self.options.out / "feed.json"),
        ]
        self.feed = start_process(command, feed_env, self.logs / "feed.log")

    def stop_feed(self) -> None:
        """Stop the feed gracefully (it delivers what it held back) and wait for it."""
        if self.feed is not None and self.feed.poll() is None:
            self.feed.terminate()
            try:
                self.feed.wait(timeout=600)
            except subprocess.TimeoutExpired:
                stop_process(self.feed, kill=True)

    def restart(self, which: str) -> None:
        """Stop (process group, SIGKILL) and start again the ``daemon`` or the ``webserver``."""
        process = self.daemon if which == "daemon" else self.webserver
        if process is not None:
            stop_process(process, kill=True)
        if which == "daemon":
            self.start_daemon()
        else:  # not waited for: the offloads do not need the UI
            port = int(self.url.rsplit(":", 1)[1])
            self.webserver = start_process(webserver_command(port), self.env, self.logs / "webserver.log")
            self.groups.append(self.webserver.pid)

    def watchdog(self) -> None:
        """Restart the daemon or webserver if one died on its own (counted as an unexpected exit)."""
        if self.daemon is not None and self.daemon.poll() is not None:
            self.unexpected_exits["daemon"] = self.unexpected_exits.get("daemon", 0) + 1
            self.start_daemon()
        if self.webserver is not None and self.webserver.poll() is not None:
            self.unexpected_exits["webserver"] = self.unexpected_exits.get("webserver", 0) + 1
            port = int(self.url.rsplit(":", 1)[1])
            self.webserver = start_process(webserver_command(port), self.env, self.logs / "webserver.log")
            self.groups.append(self.webserver.pid)

    def close(self) -> None:
        """Stop every process, PostgreSQL, and unmount the warehouse."""
        for process in (self.feed, self.daemon, self.webserver):
            if process is not None:
                stop_process(process, kill=True)
        for group in self.groups:  # code servers orphaned by a killed daemon or webserver
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self._exit.close()
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.warehouse_dir)], capture_output=True, check=False)


def _environment(
    options: StackOptions, home: Path, warehouse: Path, catalog: str, dagster: str
) -> dict[str, str]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    python_path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {
        **os.environ,
        "PYTHONPATH": python_path,
        "COLDTIER_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "COLDTIER_CATALOG_URI": catalog,
        "COLDTIER_DAGSTER_PG_URL": dagster,
        "COLDTIER_WAREHOUSE": f"file://{warehouse}",
        "COLDTIER_WINDOW_MINUTES": "1",
        "COLDTIER_ALLOWED_LATENESS_SECONDS": str(options.lateness_seconds),
        "COLDTIER_START": (today - timedelta(days=1)).date().isoformat(),
        "COLDTIER_FIRST_COPY_LOOKBACK_HOURS": "1",
        "COLDTIER_HEAL_LOOKBACK_HOURS": "1",
        "COLDTIER_WARM_LOCK_TIMEOUT_SECONDS": str(options.warm_lock_timeout_seconds),
    }


def _tune_run_monitoring(settings: Settings, poll_seconds: int) -> None:
    """Poll run workers' health every ``poll_seconds`` (Dagster's default is 120 s)."""
    config = settings.dagster_home / "dagster.yaml"
    text = config.read_text()
    marker = "  max_resume_run_attempts: 0\n"
    config.write_text(text.replace(marker, f"{marker}  poll_interval_seconds: {poll_seconds}\n"))


def _backfill(settings: Settings, warm: WarmTier, now: datetime) -> None:
    """Copy the closed windows of the sensors' first-copy lookback before Dagster starts.

    As an operator would (``coldtier offload`` of the history, then the daemon): the sensors then
    only see live windows, instead of a first run of sixty mostly empty windows per table.
    """
    offloader = Offloader(settings, warm, lambda: open_catalog(settings))
    for spec in TABLES:
        length = spec.window(settings.window)
        end = closed_window_end(now, length, settings.allowed_lateness)
        start = end - settings.first_copy_lookback
        start -= timedelta(seconds=start.timestamp() % length.total_seconds())
        if start < end:
            offloader.offload(spec, start, end, run_id="soak-backfill")


def start_stack(options: StackOptions) -> Stack:
    """Start everything; the caller must :meth:`Stack.close` it."""
    options.out.mkdir(parents=True, exist_ok=True)
    exit_stack = ExitStack()
    pg = exit_stack.enter_context(postgres_server())
    warehouse = options.out / "warehouse"
    tmpfs = _mount_tmpfs(warehouse, options.warehouse_mib)
    home = options.out / "home"
    env = _environment(
        options,
        home,
        warehouse,
        create_database(pg.server_url, "catalog"),
        create_database(pg.server_url, "dagster"),
    )
    os.environ.update({key: env[key] for key in ("PYTHONPATH", "DAGSTER_HOME", "COLDTIER_DAGSTER_PG_URL")})
    settings = load_settings(env)
    warm = WarmTier(settings.warm_dsn, lock_timeout_seconds=3600)
    init_all(warm, open_catalog(settings), settings.namespace)
    now = datetime.now(UTC)
    history_start = now.replace(second=0, microsecond=0) - timedelta(minutes=options.history_minutes)
    simulate_history(warm, history_start, now, seed=options.seed, trades_per_second=options.rate)
    _backfill(settings, warm, now)
    warm.close()
    prepare_dagster_home(settings)
    _tune_run_monitoring(settings, options.monitor_poll_seconds)
    stack = Stack(
        options, settings, env, pg, warehouse, tmpfs, f"http://127.0.0.1:{_free_port()}", history_start
    )
    stack._exit = exit_stack
    try:
        stack.start_feed()
        stack.start_webserver()
        stack.start_daemon()
    except BaseException:
        stack.close()
        raise
    time.sleep(1)
    return stack

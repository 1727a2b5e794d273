"""A real, throwaway PostgreSQL 15 server for integration tests.

``running_postgres()`` runs ``initdb`` into a fresh temporary directory (as the ``postgres`` user
when the tests run as root, because ``initdb`` refuses to run as root), starts the server with
``pg_ctl`` on a free TCP port of 127.0.0.1 with trust authentication and durability switched off
(the data is thrown away), creates one database and yields its URL. On exit the server is stopped
with ``pg_ctl stop -m immediate`` and the directory removed. ``postgres_server()`` yields the
server itself, which can be stopped and started again (outage tests, the soak harness).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql

PG_BIN = Path(os.environ.get("COLDTIER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_SUPERUSER = "postgres"

# Settings that make a test server start fast and write little; never use them for real data.
_FAST_SETTINGS: tuple[tuple[str, str], ...] = (
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("wal_level", "minimal"),
    ("max_wal_senders", "0"),
    ("shared_buffers", "32MB"),
    ("max_connections", "100"),
    ("log_min_messages", "warning"),
)


class PostgresServerError(RuntimeError):
    """The throwaway PostgreSQL server could not be set up."""


def postgres_available() -> bool:
    """True when the PostgreSQL server binaries (and, as root, the ``postgres`` user) exist."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_SUPERUSER)
        except KeyError:
            return False
        return shutil.which("runuser") is not None
    return True


def _as_server_user(command: list[str]) -> list[str]:
    """Run ``command`` as the ``postgres`` OS user when we are root (initdb/postgres refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_SUPERUSER, "--", *command]
    return command


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PostgresServerError(
            f"{what} failed ({result.returncode}): {' '.join(command)}\n{result.stdout}\n{result.stderr}"
        )


def create_database(server_url: str, name: str | None = None) -> str:
    """Create an empty database on the server of ``server_url``; returns the new database's URL."""
    name = name or f"db_{uuid.uuid4().hex[:12]}"
    with closing(psycopg2.connect(server_url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(server_url: str, name: str) -> None:
    """Drop a database (terminating its sessions) on the server of ``server_url``."""
    with closing(psycopg2.connect(server_url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class PostgresServer:
    """A running throwaway server that can be stopped and started again on the same port and data."""

    root: Path
    port: int = 0
    running: bool = False

    @property
    def data_dir(self) -> Path:
        """The server's data directory."""
        return self.root / "data"

    @property
    def server_url(self) -> str:
        """URL of the ``postgres`` maintenance database."""
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server (``pg_ctl start -w``) on ``port`` (a free one when 0)."""
        log_file = self.root / "server.log"
        port = self.port or _free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={self.root}",
                *(f"-c {key}={value}" for key, value in _FAST_SETTINGS),
            ]
        )
        command = [str(PG_BIN / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(log_file)]
        result = subprocess.run(
            _as_server_user([*command, "-w", "-t", "60", "-o", options]),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            raise PostgresServerError(f"pg_ctl start failed: {result.stdout}\n{result.stderr}\n{log[-2000:]}")
        self.port, self.running = port, True

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: ``immediate`` is a crash (no shutdown checkpoint), ``fast`` a clean stop."""
        subprocess.run(
            _as_server_user([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w"]),
            capture_output=True,
            check=False,
        )
        self.running = False


@contextmanager
def postgres_server(*, attempts: int = 3) -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL server that the caller may stop and restart; removed on exit."""
    if not postgres_available():
        raise PostgresServerError(f"PostgreSQL server binaries not found under {PG_BIN}")
    # Not under pytest's tmp_path: its parents are mode 0700 for root, and the server runs as postgres.
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="coldtier-pg-")))
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(PG_SUPERUSER)
            os.chown(server.root, entry.pw_uid, entry.pw_gid)
        server.root.chmod(0o700)
        _run(
            _as_server_user(
                [
                    str(PG_BIN / "initdb"),
                    "--pgdata",
                    str(server.data_dir),
                    "--username",
                    PG_SUPERUSER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            "initdb",
        )
        for attempt in range(attempts):
            try:
                server.port = 0
                server.start()
                break
            except PostgresServerError:  # the port may have been taken between probe and bind: retry
                if attempt == attempts - 1:
                    raise
        yield server
    finally:
        if server.running:
            server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@contextmanager
def running_postgres(database: str = "coldtier", *, attempts: int = 3) -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yield ``postgresql://postgres@127.0.0.1:PORT/<database>``."""
    with postgres_server(attempts=attempts) as server:
        yield create_database(server.server_url, database)

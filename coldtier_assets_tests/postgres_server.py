"""A real, throwaway PostgreSQL 15 server for integration tests.

``running_postgres()`` runs ``initdb`` into a fresh temporary directory (as the ``postgres`` user
when the tests run as root, because ``initdb`` refuses to run as root), starts the server with
``pg_ctl`` on a free TCP port of 127.0.0.1 with trust authentication and durability switched off
(the data is thrown away), creates one database and yields its URL. On exit the server is stopped
with ``pg_ctl stop -m immediate`` and the directory removed.
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


@contextmanager
def running_postgres(database: str = "coldtier", *, attempts: int = 3) -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yield ``postgresql://postgres@127.0.0.1:PORT/<database>``."""
    if not postgres_available():
        raise PostgresServerError(f"PostgreSQL server binaries not found under {PG_BIN}")
    # Not under pytest's tmp_path: its parents are mode 0700 for root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="coldtier-pg-"))
    data_dir = root / "data"
    log_file = root / "server.log"
    started = False
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(PG_SUPERUSER)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        root.chmod(0o700)
        _run(
            _as_server_user(
                [
                    str(PG_BIN / "initdb"),
                    "--pgdata",
                    str(data_dir),
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
        port = 0
        for attempt in range(attempts):
            port = _free_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-c port={port}",
                    f"-c unix_socket_directories={root}",
                    *(f"-c {key}={value}" for key, value in _FAST_SETTINGS),
                ]
            )
            command = _as_server_user(
                [
                    str(PG_BIN / "pg_ctl"),
                    "start",
                    "-D",
                    str(data_dir),
                    "-l",
                    str(log_file),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                ]
            )
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                started = True
                break
            if attempt == attempts - 1:  # the port may have been taken between probe and bind: retry
                log = log_file.read_text(errors="replace") if log_file.exists() else ""
                raise PostgresServerError(f"pg_ctl start failed: {result.stdout}\n{result.stderr}\n{log}")
        server_url = f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/postgres"
        yield create_database(server_url, database)
    finally:
        if started:
            subprocess.run(
                _as_server_user(
                    [str(PG_BIN / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "immediate", "-w"]
                ),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)

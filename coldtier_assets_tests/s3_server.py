"""A real S3 server for tests: moto's standalone server (``moto_server``) on a loopback port.

``running_s3()`` starts ``moto_server -H 127.0.0.1 -p <free port>`` as a real subprocess, by default
with IAM authentication switched on (``INITIAL_NO_AUTH_ACTION_COUNT``): its first three requests
create an IAM user with an ``s3:*`` policy and an access key, and from then on every request must
be signed with that key, so a wrong secret is refused as AWS refuses it. pyarrow (pyiceberg),
chDB and boto3 pass moto's signature check; the AWS SDK v1 inside ``hadoop-aws`` (Spark's S3A) does
not (moto answers 403 to its correctly signed requests), so Spark tests use ``running_s3(iam=False)``,
which accepts any key as most S3-compatible development servers do. On exit the server process
(its own process group) is terminated. :meth:`S3Server.env` gives the coldtier environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"
_UNAUTHENTICATED_SETUP_REQUESTS = 3  # create_user, put_user_policy, create_access_key
_ALLOW_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


class S3ServerError(RuntimeError):
    """The moto S3 server could not be started."""


@dataclass(frozen=True)
class S3Server:
    """A running moto server: its endpoint and the access key that its IAM accepts."""

    endpoint: str
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def client(self, secret_access_key: str | None = None) -> Any:
        """A boto3 S3 client signed with the server's key (or with another secret)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
        )

    def new_bucket(self) -> str:
        """Create a fresh, empty bucket and return its name."""
        name = f"coldtier-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def env(self, warehouse: str) -> dict[str, str]:
        """The coldtier environment variables for an ``s3://`` warehouse on this server."""
        return {
            "COLDTIER_WAREHOUSE": warehouse,
            "COLDTIER_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": REGION,
        }


def moto_available() -> bool:
    """True when the ``moto_server`` command (``pip install 'moto[server]'``) is installed."""
    return _moto_server() is not None


def _moto_server() -> str | None:
    beside_python = Path(sys.executable).parent / "moto_server"
    return str(beside_python) if beside_python.is_file() else shutil.which("moto_server")


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise S3ServerError(f"moto_server exited with {process.returncode}: {log.read_text()[-2000:]}")
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise S3ServerError(f"moto_server did not listen on port {port} within {timeout} s")


def _create_access_key(endpoint: str) -> tuple[str, str]:
    """The setup requests moto lets through unauthenticated: an IAM user allowed s3:*, and its key."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="coldtier")
    iam.put_user_policy(UserName="coldtier", PolicyName="s3", PolicyDocument=json.dumps(_ALLOW_S3))
    key = iam.create_access_key(UserName="coldtier")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def running_s3(*, iam: bool = True) -> Iterator[S3Server]:
    """Start a moto S3 server on a free loopback port (``iam``: signatures checked); stop it on exit."""
    command = _moto_server()
    if command is None:
        raise S3ServerError("moto_server is not installed: pip install 'moto[server]'")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="coldtier-moto-") as scratch:
        log = Path(scratch, "moto.log")
        env = {name: value for name, value in os.environ.items() if name != "INITIAL_NO_AUTH_ACTION_COUNT"}
        if iam:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_UNAUTHENTICATED_SETUP_REQUESTS)
        with log.open("wb") as output:
            process = subprocess.Popen(
                [command, "-H", "127.0.0.1", "-p", str(port)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            _wait_listening(process, port, log)
            endpoint = f"http://127.0.0.1:{port}"
            key, secret = (
                _create_access_key(endpoint) if iam else ("AKIACOLDTIERTEST", f"open-{uuid.uuid4().hex}")
            )
            yield S3Server(endpoint, key, secret)
        finally:
            _stop(process)

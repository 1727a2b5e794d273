"""Run the real `coldtier` command line in a subprocess, and the assertions the CLI tests share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from contextlib import closing

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (the real "server is down" case)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli_env(env: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """The process environment with ``env`` and ``overrides`` applied and this checkout importable first."""
    path = os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))
    return {**os.environ, **env, **overrides, "PYTHONPATH": path}


def run_cli(
    args: list[str], env: Mapping[str, str], *, timeout: float = 300, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m coldtier_assets.cli ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "coldtier_assets.cli", *args],
        env=cli_env(env, **overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The command exited with ``code``, printed exactly one line on stderr (no traceback) holding ``fragments``."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]

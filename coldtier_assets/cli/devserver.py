"""Start and stop Dagster's webserver and daemon as process groups (`dagster dev` ignores SIGTERM at times)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from coldtier_assets.bundled import bundled_path
from coldtier_assets.errors import ColdtierError

WORKSPACE = bundled_path("workspace.yaml")


class DagsterProcessError(ColdtierError):
    """The Dagster webserver or daemon did not start."""


def start_process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session (process group), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process(process: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 30) -> None:
    """Stop a process group: SIGKILL at once when ``kill``, else SIGTERM then SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def webserver_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The Dagster webserver for the coldtier workspace."""
    return [sys.executable, "-m", "dagster_webserver", "-w", str(WORKSPACE), "-h", host, "-p", str(port)]


def daemon_command() -> list[str]:
    """The Dagster daemon (sensors, schedules, run queue) for the coldtier workspace."""
    return [sys.executable, "-m", "dagster._daemon", "run", "-w", str(WORKSPACE)]


def wait_for_webserver(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Block until the webserver answers ``/server_info`` (or fail if it died or timed out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DagsterProcessError(f"the Dagster webserver exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise DagsterProcessError(f"the Dagster webserver at {url} did not answer within {timeout:.0f} s")

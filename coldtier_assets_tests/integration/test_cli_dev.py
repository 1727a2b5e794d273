"""`coldtier dev` stops its Dagster webserver and daemon when a process manager sends SIGTERM (#10 item 7)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from coldtier_assets_tests.cli_runner import cli_env, free_port


def _process_groups() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, process group) of every process on the machine."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def _wait_for_webserver(url: str, dev: subprocess.Popen[str]) -> None:
    while dev.poll() is None:  # no deadline of its own: the test's subprocess bounds it
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/server_info", timeout=5) as response,
        ):
            if response.status == 200:
                return
        time.sleep(1)
    raise AssertionError(f"coldtier dev exited with {dev.returncode}")


def test_sigterm_stops_webserver_and_daemon(coldtier_env: dict[str, str]) -> None:
    port = free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "coldtier_assets.cli", "dev", "--no-live", "--port", str(port)],
        env=cli_env(coldtier_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    groups: set[int] = set()
    try:
        _wait_for_webserver(f"http://127.0.0.1:{port}", dev)
        groups = {group for parent, group in _process_groups().values() if parent == dev.pid}
        assert len(groups) == 2, "expected the webserver's and the daemon's process groups"
        assert dev.pid not in groups
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=120)
        left = {pid for pid, (_, group) in _process_groups().items() if group in groups}
        assert not left, f"processes of the webserver/daemon groups still running: {sorted(left)}"
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)

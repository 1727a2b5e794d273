"""A child process spoken to in JSON lines: one request line in, one answer line out.

The embedded engine's helpers (the cold-query worker, the warm reader of long-lived processes)
run chDB in child processes; this is their shared plumbing: start, ask, notice an exit, stop.
"""

from __future__ import annotations

import json
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any


class JsonLineChild:
    """A running child process that answers each JSON line written to its stdin with one on stdout.

    ``keep_stderr`` pipes stderr so its last line can explain an exit (use it only for short-lived
    children: a long-lived one that writes much to stderr would block on the full pipe).
    """

    def __init__(self, argv: list[str], *, cwd: str | Path | None = None, keep_stderr: bool = False) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if keep_stderr else subprocess.DEVNULL,
            text=True,
        )

    @property
    def running(self) -> bool:
        """True while the child has not exited."""
        return self.process.poll() is None

    def ask(self, request: object) -> dict[str, Any] | None:
        """Send one request and return the answer, or ``None`` if the child exited instead."""
        assert self.process.stdin is not None
        with suppress(OSError):  # a child that is gone shows as an empty answer below
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        return self.answer()

    def answer(self) -> dict[str, Any] | None:
        """Read the next answer line (``None`` once the child has exited)."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def exit_detail(self) -> str:
        """How the child ended: its exit code and, if kept, the last line it wrote to stderr."""
        self.process.wait()
        stderr = self.process.stderr.read().strip().splitlines()[-1:] if self.process.stderr else []
        return f"exited ({self.process.returncode})" + (f": {stderr[0]}" if stderr else "")

    def stop(self, timeout_seconds: float = 30.0) -> None:
        """Close its stdin (the child's signal to finish), wait for it, kill it if it does not exit."""
        if self.process.stdin is not None:
            with suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

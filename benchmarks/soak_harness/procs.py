"""Find the processes of one soak stack through /proc (Linux), without a dependency.

Only descendants of the stack's own Dagster processes are ever signalled: other sessions on the
same machine run their own Dagster daemons and code servers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    """One process: its id, parent id and command line."""

    pid: int
    ppid: int
    cmdline: tuple[str, ...]

    @property
    def command(self) -> str:
        """The command line joined by spaces."""
        return " ".join(self.cmdline)


def _info(pid: int) -> ProcessInfo | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces: the ppid follows the last ")"
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is already dead
        return None
    return ProcessInfo(
        pid, int(fields[1]), tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    )


def all_processes() -> list[ProcessInfo]:
    """Every live process visible in /proc."""
    infos = (_info(int(entry.name)) for entry in PROC.iterdir() if entry.name.isdigit())
    return [info for info in infos if info is not None]


def descendants(roots: list[int]) -> list[ProcessInfo]:
    """Every live descendant of the given process ids (not the roots themselves)."""
    processes = all_processes()
    children: dict[int, list[ProcessInfo]] = {}
    for info in processes:
        children.setdefault(info.ppid, []).append(info)
    found: list[ProcessInfo] = []
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


def code_servers(roots: list[int]) -> list[ProcessInfo]:
    """The Dagster code servers (``python -m dagster api grpc``) started by the given processes."""
    return [info for info in descendants(roots) if "api" in info.cmdline and "grpc" in info.cmdline]


def is_descendant(pid: int, roots: list[int]) -> bool:
    """True when ``pid`` is alive and descends from one of ``roots``."""
    return any(info.pid == pid for info in descendants(roots))


def alive(pid: int) -> bool:
    """True when the process exists and is not a zombie."""
    return _info(pid) is not None and os.path.exists(PROC / str(pid))

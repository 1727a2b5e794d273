"""The isolated child helper, with real spawned processes: typed errors, working directory, kills."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from coldtier_assets.errors import ColdtierError, WarmTableMissingError
from coldtier_assets.resources.child_process import ChildExitedError, ChildTimeoutError, IsolatedChild

pytestmark = pytest.mark.timeout(60)


class _OddError(ColdtierError):
    """A ColdtierError the parent has to find by its module and name."""


def _raise(kind: str, message: str) -> None:
    raise {"missing": WarmTableMissingError, "odd": _OddError, "value": ValueError}[kind](message)


def _where() -> tuple[str, int]:
    return os.getcwd(), os.getpid()


def _die_loudly(code: int) -> None:
    print("the last words", file=sys.stderr, flush=True)
    os._exit(code)


@contextmanager
def _counter(start: int) -> Iterator[list[int]]:
    yield [start]


def _count(state: list[int]) -> int:
    state[0] += 1
    return state[0]


@contextmanager
def _refuse() -> Iterator[None]:
    raise WarmTableMissingError("no table in setup")
    yield


def test_typed_errors_arrive_with_their_type_and_message() -> None:
    with IsolatedChild("the test child", fallback=_OddError) as child:
        with pytest.raises(WarmTableMissingError, match=r"^no such table: t$") as missing:
            child.call(_raise, "missing", "no such table: t")
        assert type(missing.value) is WarmTableMissingError
        with pytest.raises(_OddError, match=r"^defined in a test module$") as odd:
            child.call(_raise, "odd", "defined in a test module")
        assert type(odd.value) is _OddError
        with pytest.raises(_OddError, match=r"^not a coldtier error$"):  # the fallback type
            child.call(_raise, "value", "not a coldtier error")
        assert child.call(_where)[1] == child.pid  # a failed call does not end the child


def test_runs_in_the_given_working_directory(tmp_path: Path) -> None:
    here = os.getcwd()
    with IsolatedChild("the test child", cwd=tmp_path) as child:
        cwd, pid = child.call(_where)
    assert Path(cwd) == tmp_path and pid != os.getpid()
    assert os.getcwd() == here


def test_a_missing_working_directory_is_a_clear_error(tmp_path: Path) -> None:
    child = IsolatedChild("the test child", cwd=tmp_path / "missing")
    with pytest.raises(ChildExitedError, match=r"^the test child could not start: .*No such file"):
        child.start()
    assert child.process is None


def test_setup_runs_once_and_its_failure_is_raised_by_start() -> None:
    with IsolatedChild("the test child", setup=partial(_counter, 10)) as child:
        assert [child.call(_count), child.call(_count)] == [11, 12]
    refusing = IsolatedChild("the test child", setup=_refuse)
    with pytest.raises(WarmTableMissingError, match="no table in setup"):
        refusing.start()
    assert not refusing.running
    unpicklable = IsolatedChild("the test child", setup=lambda: _counter(0))
    with pytest.raises(Exception, match="pickle"):
        unpicklable.start()
    assert unpicklable.process is None


def test_a_child_killed_mid_call_is_a_clear_error_not_a_hang() -> None:
    child = IsolatedChild("the test child")
    try:
        pid = child.call(_where)[1]
        killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
        killer.start()
        started = time.monotonic()
        with pytest.raises(ChildExitedError, match=r"^the test child was killed by SIGKILL$"):
            child.call(time.sleep, 30)
        assert time.monotonic() - started < 20
        assert not child.running
        assert child.call(_where)[1] != pid  # the next call starts a new child
    finally:
        child.stop()


def test_ctrl_c_in_the_parent_stops_the_child_at_once() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT
    # ignored: install Python's own handler, as in an interactive `coldtier` command.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    child = IsolatedChild("the test child")
    try:
        pid = child.call(_where)[1]
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            child.call(time.sleep, 30)
        assert time.monotonic() - started < 20 and not child.running
        with pytest.raises(ProcessLookupError):  # killed and reaped, not waited for
            os.kill(pid, 0)
    finally:
        child.stop()
        signal.signal(signal.SIGINT, previous)


def test_a_crash_reports_its_exit_code_and_last_words() -> None:
    child = IsolatedChild("the test child")
    with child, pytest.raises(ChildExitedError, match=r"^the test child exited \(3\): the last words$"):
        child.call(_die_loudly, 3)


def test_a_call_past_its_timeout_stops_the_child() -> None:
    with IsolatedChild("the test child") as child:
        pid = child.pid
        assert pid is not None
        with pytest.raises(ChildTimeoutError, match=r"ran longer than 0.5 s and was stopped"):
            child.call(time.sleep, 30, timeout=0.5)
        assert not child.running
        with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
            os.kill(pid, 0)


def test_an_idle_child_exits_by_itself() -> None:
    with IsolatedChild("the test child", idle_seconds=0.3) as child:
        process = child.process
        assert process is not None
        assert process.wait(20) == 0

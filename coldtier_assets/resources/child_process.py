"""One helper for isolated chDB work: a spawned Python process that runs functions for its parent.

chDB's embedded engine is process-global (one session per process, only files below its working
directory readable), leaks threads and descriptors per connection, and holds a cross-process lock
while open. So the cold-query worker, the warm reader of long-lived processes and the embedded
federated query each run their chDB work in an :class:`IsolatedChild`:

* a fresh interpreter (nothing of the parent's chDB, threads or locks is copied) with the parent's
  ``sys.path``, started in the working directory the caller names;
* it runs the functions it is sent (pickled, over a :mod:`multiprocessing.connection`), one at a
  time, and sends back their return values;
* a :class:`~coldtier_assets.errors.ColdtierError` raised there is raised in the parent with the
  same type and message; any other exception as the caller's ``fallback`` type;
* a child that exits or is killed before it answers raises :class:`ChildExitedError` (with its
  exit code or signal and the last line it wrote), and a call past its ``timeout`` stops the child
  and raises :class:`ChildTimeoutError`: never a hang;
* ``setup`` (a context manager factory) is entered once in the child, before the first call, and
  what it yields is the first argument of every function; a failure there is raised by
  :meth:`IsolatedChild.start`; ``idle_seconds`` makes the child exit by itself when left idle.

The child's stdout and stderr go to a temporary file (chDB's messages never reach the console);
its last line explains an unexpected exit.

Why not :class:`multiprocessing.Process` with the spawn context: spawn re-runs the caller's main
module in every child, so a user's script that queries coldtier without an ``if __name__ ==
"__main__"`` guard would fail, and the ``coldtier`` console script would import the whole CLI again
in each child. This helper starts ``python -c`` itself and uses multiprocessing's connection (its
message framing and pickling) for everything else.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from coldtier_assets.errors import ColdtierError

T = TypeVar("T")
Setup = Callable[[], AbstractContextManager[Any]]

# The child's first message is the parent's sys.path (plain strings), so that it imports this
# module, and then the functions it is sent, from where the parent does.
_BOOTSTRAP = (
    "import sys; from multiprocessing.connection import Connection; "
    "connection = Connection(int(sys.argv[1])); sys.path[:] = connection.recv(); "
    "from coldtier_assets.resources.child_process import _serve; _serve(connection, *connection.recv())"
)


class ChildExitedError(ColdtierError):
    """An isolated child process ended (killed, crashed or idled out) before it answered."""


class ChildTimeoutError(ChildExitedError):
    """An isolated child process took longer than its caller allowed; it was stopped."""


@dataclass(frozen=True)
class _Failure:
    """An exception raised in the child, as sent to the parent: where its class lives, its message."""

    module: str  # "" when it is not a ColdtierError (the parent raises its fallback type)
    qualname: str
    message: str


def _failure(error: Exception) -> _Failure:
    if isinstance(error, ColdtierError):
        return _Failure(type(error).__module__, type(error).__qualname__, str(error))
    return _Failure("", "", str(error).strip() or repr(error))


def _rebuild(failure: _Failure, fallback: type[ColdtierError]) -> ColdtierError:
    """The exception to raise in the parent: the child's own ColdtierError type when it resolves."""
    cls: object = fallback
    if failure.module:
        with suppress(ImportError):
            cls = importlib.import_module(failure.module)
            for part in failure.qualname.split("."):
                cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and issubclass(cls, ColdtierError)):
        cls = fallback
    try:
        return cls(failure.message)
    except TypeError:  # a type whose constructor wants more than a message
        return fallback(failure.message)


def _serve(connection: Connection, setup: Setup | None, idle_seconds: float | None) -> None:
    """The child's main loop: enter ``setup``, then answer each request until EOF or idle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; it stops the child
    with ExitStack() as stack:
        try:
            state = () if setup is None else (stack.enter_context(setup()),)
        except Exception as error:
            connection.send((False, _failure(error)))
            return
        connection.send((True, None))
        while idle_seconds is None or connection.poll(idle_seconds):
            try:
                function, args = connection.recv()
            except EOFError:  # the parent closed its end (or is gone)
                return
            try:
                answer = (True, function(*state, *args))
            except Exception as error:
                answer = (False, _failure(error))
            connection.send(answer)


class IsolatedChild:
    """A spawned child process running functions in ``cwd``; see the module docstring.

    ``name`` says what the child is in error messages ("the chDB cold-query worker"). It is started
    on first use (or by :meth:`start` / ``with``), and stopped by :meth:`stop`. Calls from several
    threads are served one at a time.
    """

    def __init__(
        self,
        name: str,
        *,
        cwd: str | Path | None = None,
        setup: Setup | None = None,
        idle_seconds: float | None = None,
        fallback: type[ColdtierError] = ColdtierError,
    ) -> None:
        self.name = name
        self.cwd = None if cwd is None else str(cwd)
        self.setup = setup
        self.idle_seconds = idle_seconds
        self.fallback = fallback
        self.process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._output: str | None = None
        self._lock = threading.RLock()

    @property
    def running(self) -> bool:
        """True while the child is alive."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        """Start the child and wait until its ``setup`` is done; raises what ``setup`` raised."""
        with self._lock:
            if self.process is not None:
                return
            self._connection, child_end = multiprocessing.Pipe()
            try:
                with tempfile.NamedTemporaryFile(
                    prefix="coldtier-child-", suffix=".log", delete=False
                ) as log:
                    self._output = log.name
                    self.process = subprocess.Popen(
                        [sys.executable, "-c", _BOOTSTRAP, str(child_end.fileno())],
                        cwd=self.cwd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        pass_fds=[child_end.fileno()],
                    )
            except OSError as error:  # no such working directory, no interpreter, no descriptors left
                self.stop()
                raise ChildExitedError(f"{self.name} could not start: {error}") from None
            finally:
                child_end.close()  # so that the child's exit reads as end-of-file here
            path = [entry or os.getcwd() for entry in sys.path]  # "" is the parent's directory
            try:
                with suppress(OSError):  # a child that died at once shows as end-of-file below
                    self._connection.send(path)
                    self._connection.send((self.setup, self.idle_seconds))
                self._receive(None)
            except BaseException:  # setup failed, or cannot be pickled: the child does not stay
                self.stop()
                raise

    def call(self, function: Callable[..., T], *args: object, timeout: float | None = None) -> T:
        """Run ``function(*state, *args)`` in the child and return its value (started if needed)."""
        with self._lock:
            self.start()
            assert self._connection is not None
            with suppress(OSError):  # a child that is gone shows as end-of-file below
                self._connection.send((function, args))
            try:
                return self._receive(timeout)
            except (KeyboardInterrupt, SystemExit):  # the parent stops (Ctrl-C): the child with it, now
                self.stop(timeout_seconds=0)
                raise

    def stop(self, timeout_seconds: float = 30.0) -> None:
        """Close the connection (the child's signal to finish), wait for it, kill it if it stays."""
        with self._lock:
            process, connection, output = self.process, self._connection, self._output
            self.process = self._connection = self._output = None
            if connection is not None:
                connection.close()
            if process is not None:
                try:
                    process.wait(timeout_seconds)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if output is not None:
                with suppress(OSError):
                    os.unlink(output)

    def __enter__(self) -> IsolatedChild:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _receive(self, timeout: float | None) -> Any:
        assert self._connection is not None
        if timeout is not None and not self._connection.poll(timeout):
            self.stop(timeout_seconds=0)
            raise ChildTimeoutError(f"{self.name} ran longer than {timeout:g} s and was stopped")
        try:
            ok, value = self._connection.recv()
        except (EOFError, OSError):
            detail = self._exit_detail()
            self.stop()
            raise ChildExitedError(f"{self.name} {detail}") from None
        if not ok:
            raise _rebuild(value, self.fallback)
        return value

    def _exit_detail(self) -> str:
        """How the child ended: its exit code or signal, and the last line it wrote."""
        assert self.process is not None
        try:
            code: int | None = self.process.wait(10)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            detail = "closed its connection"
        elif code < 0:
            detail = f"was killed by {signal.Signals(-code).name}"
        else:
            detail = f"exited ({code})"
        lines = Path(self._output).read_text(errors="replace").strip().splitlines() if self._output else []
        return detail + (f": {lines[-1]}" if lines else "")

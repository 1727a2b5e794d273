"""How every `coldtier` command fails: one clear line on stderr and a non-zero exit, never a traceback.

:class:`ColdtierGroup` runs the command line in Click's non-standalone mode and turns whatever
escapes a command into one redacted line: exit 2 for a usage or configuration error, 1 for
anything else, 130 when interrupted. ``--debug`` (or ``COLDTIER_DEBUG=1``) adds the traceback,
redacted too. Library log records are dropped unless debugging, so no stray line reaches stderr.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.text import Text
from typer._click import exceptions as click  # Typer 0.29 vendors Click: its own exception types
from typer.core import TyperGroup

from coldtier_assets.cli.common import errors
from coldtier_assets.errors import ColdtierError, ConfigError
from coldtier_assets.redact import install_log_redaction, redact

_MAX_LINE = 600
_NOISE = (
    re.compile(r"\s*\(Background on this error at: [^)]*\)"),
    re.compile(r"\.?\s*Stack trace.*$", re.DOTALL),
)
_HINTS = {
    "NoSuchTableError": "run `coldtier init`?",
    "NoSuchNamespaceError": "run `coldtier init`?",
    "DagsterPostgresException": "the Dagster instance's PostgreSQL, COLDTIER_DAGSTER_PG_URL",
}


def debugging() -> bool:
    """True when ``--debug`` was given or ``COLDTIER_DEBUG`` is set to a true value."""
    return os.environ.get("COLDTIER_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def one_line(message: str) -> str:
    """``message`` redacted and folded onto one line (library noise and stack traces dropped)."""
    for noise in _NOISE:
        message = noise.sub("", message)
    folded = " ".join(line.strip() for line in message.splitlines() if line.strip())
    folded = redact(folded)
    return folded if len(folded) <= _MAX_LINE else folded[: _MAX_LINE - 1] + "…"


def describe(error: BaseException) -> str:
    """What went wrong, as the one line the user sees (without the ``error:`` prefix)."""
    name = type(error).__name__
    text = one_line(str(error)) or name
    if isinstance(error, ColdtierError):
        return text
    hint = _HINTS.get(name)
    return f"{name}: {text}" + (f" ({hint})" if hint else "")


def _print_line(label: str, message: str) -> None:
    errors.print(Text.assemble((f"{label}: ", "bold red"), message), soft_wrap=True, highlight=False)


def fail(error: BaseException, *, code: int = 1, label: str = "error") -> NoReturn:
    """Print the one-line error (and the redacted traceback when debugging), then exit."""
    if debugging():
        trace = "".join(traceback.format_exception(error))
        errors.print(Text(redact(trace)), soft_wrap=True, highlight=False)
    _print_line(label, describe(error))
    sys.exit(code)


def quiet_library_logs() -> None:
    """Redact every log record; drop library records (e.g. clickhouse-connect's) unless debugging."""
    install_log_redaction()
    root = logging.getLogger()
    if debugging():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


def _usage_line(error: click.UsageError) -> str:
    command = error.ctx.command_path if error.ctx is not None else "coldtier"
    return f"{one_line(error.format_message())} (see `{command} --help`)"


class ColdtierGroup(TyperGroup):
    """The `coldtier` command group: every failure becomes one line and an exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in standalone mode, exit with one line instead of a traceback."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        quiet_library_logs()
        try:
            self._run_standalone(args, prog_name, complete_var, **extra)
        finally:
            # The work is done and every file closed: skip the interpreter's final garbage
            # collections over the objects the command's libraries leave behind (those loaded with
            # the command line are frozen already, cli/entry.py; reference counting still frees).
            gc.freeze()

    def _run_standalone(
        self, args: Sequence[str] | None, prog_name: str | None, complete_var: str | None, **extra: Any
    ) -> NoReturn:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as error:
            _print_line("error", _usage_line(error))
            sys.exit(2)
        except click.ClickException as error:
            _print_line("error", one_line(error.format_message()))
            sys.exit(error.exit_code)
        except typer.Exit as error:
            sys.exit(error.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            _print_line("error", "interrupted")
            sys.exit(130)
        except ConfigError as error:
            fail(error, code=2, label="configuration error")
        except Exception as error:
            fail(error)
        sys.exit(result if isinstance(result, int) else 0)

"""`coldtier query` is read-only: what the user's SQL may not do, checked before it runs.

ClickHouse's ``readonly`` setting alone is not enough (checked with chDB 26.9): ``readonly=1``
also forbids the ``icebergLocal`` reads the federated plan itself adds, and neither ``readonly=1``
nor ``readonly=2`` stops ``INTO OUTFILE`` (chDB writes the file) or ``file()`` (it reads any local
file). So the user's own text is checked here: no ``INTO OUTFILE``, and no table function outside
a small allow-list (the engine's own list of table functions, ``system.table_functions``, says
which names are table functions). The composed query then runs with ``readonly=2`` as a second
line of defence: writes, DDL and ``SYSTEM`` are refused by ClickHouse itself, and the query cannot
lift the setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from typing import Protocol

from coldtier_assets.errors import ColdtierError

#: Table functions that only compute or parse inline data: no file, URL, other server or table.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "values",
        "generate_series",
        "generateseries",
        "format",
        "null",
    }
)

#: The ClickHouse setting the composed query runs with (2: reads and SET only, never ``readonly`` itself).
READONLY_SETTINGS: dict[str, object] = {"readonly": 2}


class ReadOnlyQueryError(ColdtierError):
    """The user's SQL would write or reach outside the logical tables (the message says how)."""


class SqlToken(Protocol):
    """A significant token of the user's SQL (see ``federated.parse``)."""

    @property
    def kind(self) -> str:
        """The token's class (``word``, ``quoted``, ``string``, ``other``)."""
        ...

    @property
    def text(self) -> str:
        """The token as written."""
        ...

    @property
    def identifier(self) -> str | None:
        """The identifier this token names (quotes removed), or None."""
        ...


def refuse_outfile(tokens: Sequence[SqlToken]) -> None:
    """Refuse ``INTO OUTFILE`` (it writes a file on the machine that runs the query)."""
    words = [token.text.upper() if token.kind == "word" else "" for token in tokens]
    if any(first == "INTO" and second == "OUTFILE" for first, second in itertools.pairwise(words)):
        raise ReadOnlyQueryError("coldtier query is read-only: INTO OUTFILE is not allowed")


def refuse_table_functions(tokens: Sequence[SqlToken], table_functions: Collection[str]) -> None:
    """Refuse a call to any table function of ``table_functions`` outside :data:`ALLOWED_TABLE_FUNCTIONS`.

    Names are compared without case (ClickHouse accepts some in any case); a scalar function that
    shares a table function's name (``file()`` reads a local file) is refused too.
    """
    known = {name.lower() for name in table_functions}
    for index, token in enumerate(tokens[:-1]):
        name = token.identifier
        if name is None or tokens[index + 1].text != "(":
            continue
        if index > 0 and tokens[index - 1].text == ".":
            continue  # a qualified name (database.table or a column's sub-field), not a function
        if name.lower() in known and name.lower() not in ALLOWED_TABLE_FUNCTIONS:
            allowed = ", ".join(sorted(ALLOWED_TABLE_FUNCTIONS))
            raise ReadOnlyQueryError(
                f"coldtier query is read-only: the table function {name}() reaches files, URLs, other "
                f"servers or tables outside the logical ones and is not allowed (allowed: {allowed})"
            )

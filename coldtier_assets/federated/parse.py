"""Reading the user's federated SQL: statement kind and the registry tables it names.

Strings and comments are skipped; the query itself is never rewritten (see :mod:`.plan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coldtier_assets.errors import ColdtierError
from coldtier_assets.federated.readonly import (
    refuse_outfile,
)
from coldtier_assets.tables import TABLES_BY_NAME


class FederatedQueryError(ColdtierError):
    """A federated query was refused or failed; the message says why in terms of the user's SQL."""


class UnknownTableError(FederatedQueryError):
    """The query names a table that neither the registry nor ClickHouse knows."""


# --------------------------------------------------------------------------------------------------
# Reading the user's SQL: statement kind, referenced registry tables (strings and comments skipped)
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^'\\]|\\.|'')*(?:'|\Z))
  | (?P<quoted>`(?:[^`\\]|\\.|``)*(?:`|\Z)|"(?:[^"\\]|\\.|"")*(?:"|\Z))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    """One significant token of the SQL: its kind (word, quoted, punctuation, …) and text."""

    kind: str
    text: str
    start: int

    @property
    def identifier(self) -> str | None:
        """The identifier this token names (quotes removed), or None."""
        if self.kind == "word":
            return self.text
        if self.kind == "quoted" and len(self.text) >= 2:
            return self.text[1:-1]
        return None


def significant_tokens(sql: str) -> list[Token]:
    """Significant tokens (no whitespace, no comments)."""
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "other"
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(), match.start()))
    return tokens


@dataclass(frozen=True)
class ParsedQuery:
    """The user's single SELECT statement and the registry tables it mentions."""

    sql: str
    tables: tuple[str, ...]
    form: str  # "select": starts with SELECT; "with": starts with WITH; "nested": starts with "("
    with_end: int = 0  # for "with": offset just after WITH [RECURSIVE]


def parse_query(sql: str) -> ParsedQuery:
    """Check that ``sql`` is one SELECT statement and find the registry tables it mentions.

    A table mention is an (optionally quoted) identifier equal to a registry name that is not
    qualified by a database (``default.silver_trades`` reads the plain warm table).
    """
    tokens = significant_tokens(sql)
    if not tokens:
        raise FederatedQueryError("the query is empty")
    for index, token in enumerate(tokens):
        if token.text == ";":
            if any(other.text != ";" for other in tokens[index:]):
                raise FederatedQueryError("give one SELECT statement (the query holds several)")
            sql, tokens = sql[: token.start], tokens[:index]
            break
    if not tokens:
        raise FederatedQueryError("the query is empty")
    first = tokens[0]
    keyword = first.text.upper() if first.kind == "word" else first.text
    if keyword not in ("SELECT", "WITH", "("):
        raise FederatedQueryError(
            f"only SELECT queries can be federated (the query starts with {first.text!r}): it is read-only"
        )
    refuse_outfile(tokens)
    tables: list[str] = []
    for index, token in enumerate(tokens):
        name = token.identifier
        qualified = index > 0 and tokens[index - 1].text == "."
        if name in TABLES_BY_NAME and not qualified and name not in tables:
            tables.append(name)
    if keyword == "WITH":
        end = first.start + len(first.text)
        if len(tokens) > 1 and tokens[1].kind == "word" and tokens[1].text.upper() == "RECURSIVE":
            end = tokens[1].start + len(tokens[1].text)
        return ParsedQuery(sql, tuple(tables), "with", end)
    return ParsedQuery(sql, tuple(tables), "select" if keyword == "SELECT" else "nested")

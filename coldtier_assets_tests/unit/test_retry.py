"""The one commit-retry helper: conflicts retried, anything else at once, a typed error at the end."""

from __future__ import annotations

import pytest
from pyiceberg.exceptions import CommitFailedException

from coldtier_assets.errors import CommitError
from coldtier_assets.offload.retry import retry_conflicts


def test_a_conflict_is_retried_and_the_attempt_number_counts_up() -> None:
    seen: list[int] = []

    def body(attempt: int) -> str:
        seen.append(attempt)
        if attempt < 3:
            raise CommitFailedException("someone else committed first")
        return "landed"

    result = retry_conflicts(
        body, attempts=5, conflicts=(CommitFailedException,), what="window", error=CommitError
    )
    assert result == "landed"
    assert seen == [1, 2, 3]


def test_every_attempt_conflicting_raises_the_callers_typed_error() -> None:
    calls = 0

    def body(attempt: int) -> None:
        nonlocal calls
        calls += 1
        raise CommitFailedException(f"conflict {attempt}")

    with pytest.raises(CommitError, match=r"could not commit silver window after 3 attempts: conflict 3"):
        retry_conflicts(
            body, attempts=3, conflicts=(CommitFailedException,), what="silver window", error=CommitError
        )
    assert calls == 3


def test_anything_else_propagates_at_once() -> None:
    calls = 0

    def body(attempt: int) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("catalog went away")

    with pytest.raises(ConnectionError):
        retry_conflicts(body, attempts=5, conflicts=(CommitFailedException,), what="w", error=CommitError)
    assert calls == 1

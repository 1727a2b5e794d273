"""Retrying an Iceberg commit: one helper, built on tenacity, for offload and maintenance alike.

A commit that lost a race (``CommitFailedException`` and its kin) did not land: the caller's body
re-reads fresh metadata and tries again after a jittered exponential pause (50 ms doubling, at most
2 s). Anything else propagates at once: the body decides what an unknown outcome means. When every
attempt conflicted, the caller's typed error is raised, naming what could not be committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from coldtier_assets.errors import ColdtierError

log = logging.getLogger(__name__)

T = TypeVar("T")


class OutcomeUnknownError(Exception):
    """A commit attempt failed without saying whether it landed; retried like a conflict.

    The body raises it after looking for its own commit id in fresh metadata and not finding it
    (or not being able to look); the next attempt looks again before committing anew.
    """


#: First pause after a conflict, and the longest pause between attempts.
FIRST_PAUSE_SECONDS = 0.05
LONGEST_PAUSE_SECONDS = 2.0


def retry_conflicts(
    body: Callable[[int], T],
    *,
    attempts: int,
    conflicts: tuple[type[BaseException], ...],
    what: str,
    error: type[ColdtierError],
) -> T:
    """Call ``body(attempt)`` (1-based) until it returns, retrying the ``conflicts`` exceptions.

    After ``attempts`` conflicting attempts, raise ``error`` saying it could not commit ``what``.
    """

    def note(state: RetryCallState) -> None:
        outcome = state.outcome
        log.info(
            "%s conflicted (attempt %d): %s", what, state.attempt_number, outcome and outcome.exception()
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=FIRST_PAUSE_SECONDS, max=LONGEST_PAUSE_SECONDS),
        retry=retry_if_exception_type(conflicts),
        before_sleep=note,
    )
    try:
        return retrying(lambda: body(retrying.statistics["attempt_number"]))
    except RetryError as exhausted:
        last = exhausted.last_attempt.exception()
        raise error(f"could not commit {what} after {attempts} attempts: {last}") from last

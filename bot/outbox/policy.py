"""The outbox's rules as pure functions: the lease, the retry policy, the default marker.

One policy for every message the bot sends on its own: a claim lasts ``LEASE``; a sender
starts no send after half of it and gives each request a quarter, so a live sender never
overlaps a takeover; a failure the platform may retry waits ``backoff(attempts)`` and the next
attempt first reads the history (the failed one may have landed); after ``MAX_ATTEMPTS`` or a
refusal (closed DMs, a deleted channel) the message is failed and its feature told.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "BACKOFF",
    "LEASE",
    "MAX_ATTEMPTS",
    "Next",
    "after_failure",
    "backoff",
    "default_marker",
]

#: How long a claim is held: one older than this belongs to a process that died or stalled.
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 6
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)


def backoff(attempts: int) -> timedelta:
    """The pause after the ``attempts``-th failed attempt (1-based)."""
    return BACKOFF[max(0, min(attempts - 1, len(BACKOFF) - 1))]


def send_timeout(lease: timedelta = LEASE) -> float:
    """Seconds a request may take before the claim is left to the lease recovery to verify."""
    return lease.total_seconds() / 4


def start_deadline(lease: timedelta = LEASE) -> float:
    """Seconds after claiming beyond which a send is not started (handed back instead)."""
    return lease.total_seconds() / 2


class Next(enum.StrEnum):
    RETRY = "retry"  # back to pending after a backoff, verified first
    FAIL = "fail"  # given up: the feature's ``failed`` hook runs


@dataclass(frozen=True, slots=True)
class AfterFailure:
    next: Next
    delay: timedelta = timedelta(0)


def after_failure(
    *, retryable: bool, attempts: int, max_attempts: int = MAX_ATTEMPTS
) -> AfterFailure:
    """What follows a failed attempt: a retry after a pause, or giving up."""
    if not retryable or attempts >= max_attempts:
        return AfterFailure(Next.FAIL)
    return AfterFailure(Next.RETRY, backoff(attempts))


def default_marker(row_id: int) -> str:
    """The row id only: the marker says nothing about who the message is for."""
    return f"out {row_id}"

"""The peer rules every step shares: when a review is due, how marks are rounded.

When a review is due is ``bot.due``'s rule (the one place for every item); these names stay
for the peer modules that use them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from bot import due as due_rule
from bot.db.models import AssignmentStatus, PeerExercise, ReviewAssignment
from bot.due import EXTRA_TIME_ORIGINS as EXTRA_TIME_ORIGINS
from bot.due import MIN_REVIEW_WINDOW as MIN_REVIEW_WINDOW

ACTIVE = (AssignmentStatus.PENDING, AssignmentStatus.DONE)
#: Reasons that take a reviewer out of the exercise's pool for good.
GONE = ("left", "missed", "undeliverable")
#: Only first-round reviews are reassigned when missed; a missed reassignment is reported.
REASSIGNABLE_ORIGINS = ("allocation", "late")
REVIEW_BUTTON = "Write review"
_TENTH = Decimal("0.1")


def reviewer_due_at(exercise: PeerExercise, origin: str, assigned_at: datetime) -> datetime:
    """When one review is due: the one rule behind the DMs, reminders, status and release.

    ``bot.due.reviewer_due_at`` (the announced review deadline; late, reassigned and
    topped-up work gets at least ``MIN_REVIEW_WINDOW`` from when it was given out).
    """
    return due_rule.reviewer_due_at(exercise.review_due_at, origin, assigned_at)


def due_of(exercise: PeerExercise, assignment: ReviewAssignment) -> datetime:
    """A stored review's due time (set by ``reviewer_due_at`` when it was given out)."""
    return due_rule.review_item(exercise, assignment).due_at


#: The review button's custom id is this and the assignment's id (``cogs/peer/views.py``).
REVIEW_PREFIX = "cb:peer:review:"


def review_custom_id(assignment_id: int) -> str:
    return f"{REVIEW_PREFIX}{assignment_id}"


def dec(value: float | None, places: str = "0.001") -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def tenth(value: Decimal) -> Decimal:
    return value.quantize(_TENTH, rounding=ROUND_HALF_UP)

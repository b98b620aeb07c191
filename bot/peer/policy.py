"""The peer rules every step shares: when a review is due, how marks are rounded.

Kept apart from the database reads so that one place answers "when is this review due".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from bot.db.models import AssignmentStatus, PeerExercise, ReviewAssignment

#: Work accepted late (or reassigned) still gets at least this long to be reviewed.
MIN_REVIEW_WINDOW = timedelta(hours=48)
#: Origins of reviews given out after allocation, which get the extra time (docs/peer.md).
EXTRA_TIME_ORIGINS = ("late", "reassigned", "manual", "topup")
ACTIVE = (AssignmentStatus.PENDING, AssignmentStatus.DONE)
#: Reasons that take a reviewer out of the exercise's pool for good.
GONE = ("left", "missed", "undeliverable")
#: Only first-round reviews are reassigned when missed; a missed reassignment is reported.
REASSIGNABLE_ORIGINS = ("allocation", "late")
REVIEW_BUTTON = "Write review"
_TENTH = Decimal("0.1")


def reviewer_due_at(exercise: PeerExercise, origin: str, assigned_at: datetime) -> datetime:
    """When one review is due: the one rule behind the DMs, reminders, status and release.

    Reviews allocated with the exercise are due at the review deadline the class was told.
    Late and reassigned work (and reviews a tutor tops up) get at least
    ``MIN_REVIEW_WINDOW`` from when they were given out; so does an allocation that only
    happened after the review deadline had passed (nobody can review in no time).
    """
    told = exercise.review_due_at
    if origin in EXTRA_TIME_ORIGINS or assigned_at >= told:
        return max(told, assigned_at + MIN_REVIEW_WINDOW)
    return told


def due_of(exercise: PeerExercise, assignment: ReviewAssignment) -> datetime:
    """A stored review's due time (set by ``reviewer_due_at`` when it was given out)."""
    if assignment.due_at is not None:
        return assignment.due_at
    return reviewer_due_at(exercise, assignment.origin, assignment.assigned_at)


def review_custom_id(assignment_id: int) -> str:
    return f"cb:peer:review:{assignment_id}"


def dec(value: float | None, places: str = "0.001") -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def tenth(value: Decimal) -> Decimal:
    return value.quantize(_TENTH, rounding=ROUND_HALF_UP)

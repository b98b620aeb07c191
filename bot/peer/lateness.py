"""Whether a submission is on time, accepted late, or refused: the peer late policy on top of
the one due rule (``bot.due``: the person's latest approved extension, else the deadline)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import PeerExercise
from bot.due import due_for, is_late, submission_item
from bot.errors import UserError
from bot.peer import render


async def lateness(
    session: AsyncSession, exercise: PeerExercise, person_id: int, now: datetime
) -> tuple[bool, datetime]:
    """On time (False) or accepted late (True), with the person's deadline; or refused.

    The late window (``late_policy.hours``) runs from the exercise's deadline, the same for
    everybody: an extension gives a later deadline, not a later late window.
    """
    answer = await due_for(session, submission_item(exercise), person_id)
    if not answer.late(now):
        return False, answer.due_at
    hours = int(exercise.late_policy.get("hours", 0))
    cutoff = exercise.submission_due_at + timedelta(hours=hours)
    if hours and not is_late(now, cutoff):
        return True, answer.due_at
    if hours:
        raise UserError(
            f"Late submissions to “{exercise.title}” were accepted until {render.when(cutoff)}; "
            "ask your tutor for an extension."
        )
    raise UserError(
        f"The deadline for “{exercise.title}” passed {render.when(answer.due_at)} and late work "
        "is not accepted; ask your tutor for an extension."
    )

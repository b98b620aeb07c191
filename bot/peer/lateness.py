"""Whether a submission is on time, accepted late, or refused: the peer lateness rule.

Kept on its own so that moving "due / late / extended" to one cross-feature module is a change
here only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Extension, ExtensionStatus, PeerExercise
from bot.errors import UserError
from bot.peer import render


async def lateness(
    session: AsyncSession, exercise: PeerExercise, person_id: int, now: datetime
) -> bool:
    """On time (False), accepted late (True), or refused with the reason."""
    extended = (
        await session.execute(
            select(func.max(Extension.new_due_at)).where(
                Extension.exercise_id == exercise.id,
                Extension.person_id == person_id,
                Extension.status == ExtensionStatus.APPROVED,
            )
        )
    ).scalar_one()
    due = exercise.submission_due_at
    if extended is not None and extended > due:
        due = extended
    if now <= due:
        return False
    hours = int(exercise.late_policy.get("hours", 0))
    cutoff = exercise.submission_due_at + timedelta(hours=hours)
    if hours and now <= cutoff:
        return True
    if hours:
        raise UserError(
            f"Late submissions to “{exercise.title}” were accepted until {render.when(cutoff)}; "
            "ask your tutor for an extension."
        )
    raise UserError(
        f"The deadline for “{exercise.title}” passed {render.when(due)} and late work is not "
        "accepted; ask your tutor for an extension."
    )

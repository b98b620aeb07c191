"""Members who leave: their pending reviews go to others and tutors are told."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AssignmentStatus,
    Cohort,
    ExerciseStatus,
    Module,
    PeerExercise,
    Person,
    ReviewAssignment,
)
from bot.peer.allocating import lock_exercise
from bot.peer.assigning import describe_reassignment, reassign_reviews
from bot.peer.notices import tell_tutors
from bot.peer.reads import assignments

# --------------------------------------------------------------------------- departures


async def member_left(session: AsyncSession, platform_user_id: str, now: datetime) -> int:
    """A member left the server: their pending reviews go to spare capacity, tutors are told."""
    person = (
        await session.execute(select(Person).where(Person.platform_user_id == platform_user_id))
    ).scalar_one_or_none()
    if person is None:
        return 0
    rows = await session.scalars(
        select(ReviewAssignment)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
        .where(
            ReviewAssignment.reviewer_id == person.id,
            ReviewAssignment.status == AssignmentStatus.PENDING,
            PeerExercise.status == ExerciseStatus.ALLOCATED,
        )
        .order_by(ReviewAssignment.id)
    )
    by_exercise: dict[int, list[ReviewAssignment]] = {}
    for a in rows:
        by_exercise.setdefault(a.exercise_id, []).append(a)
    moved = 0
    for exercise_id, dropped in sorted(by_exercise.items()):
        exercise = await lock_exercise(session, exercise_id)
        assert exercise is not None
        still = {a.id for a in await assignments(session, exercise_id, [AssignmentStatus.PENDING])}
        dropped = [a for a in dropped if a.id in still]
        if not dropped:
            continue
        outcome = await reassign_reviews(session, exercise, dropped, reason="left", now=now)
        moved += len(dropped)
        detail = await describe_reassignment(session, outcome)
        await tell_tutors(
            session,
            exercise,
            f"left:{exercise.id}:{person.id}:{dropped[0].id}",
            f"{person.display_name} left the server with {len(dropped)} pending review(s) in "
            f"peer exercise #{exercise.id} “{exercise.title}”:\n{detail}",
            now,
        )
    return moved


async def departed_while_away(
    session: AsyncSession, guild_id: str, present: set[str], now: datetime
) -> int:
    """Reviewers with pending reviews who are no longer members of the server (they left
    while the bot was not connected, so no departure event came): treated as departures.

    ``present`` must be the server's complete member list (platform user ids).
    """
    rows = await session.execute(
        select(Person.platform_user_id)
        .join(ReviewAssignment, ReviewAssignment.reviewer_id == Person.id)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
        .join(Module, Module.id == PeerExercise.module_id)
        .join(Cohort, Cohort.id == Module.cohort_id)
        .where(
            Cohort.guild_id == guild_id,
            ReviewAssignment.status == AssignmentStatus.PENDING,
            PeerExercise.status == ExerciseStatus.ALLOCATED,
            Person.platform_user_id.is_not(None),
        )
        .distinct()
    )
    gone = sorted({uid for uid in rows.scalars() if uid is not None and uid not in present})
    moved = 0
    for uid in gone:
        moved += await member_left(session, uid, now)
    return moved

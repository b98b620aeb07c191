"""The allocation step: reviewers for every submission, topping up short authors, late work.

Run once per exercise at its deadline (or on demand), under the exercise's row lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ExerciseStatus, PeerExercise, ReviewAssignment
from bot.due import reached
from bot.peer import render
from bot.peer.allocation import Assignment, Shortfall
from bot.peer.assigning import add_assignments
from bot.peer.notices import post_to_channel, tell_tutors
from bot.peer.policy import ACTIVE
from bot.peer.reads import assignments, current_submissions, module_of, names_of, rules_for

# --------------------------------------------------------------------------- allocation


async def lock_exercise(session: AsyncSession, exercise_id: int) -> PeerExercise | None:
    """Read the exercise for a change (a row lock on PostgreSQL; SQLite serialises writers),
    so a submission and the allocation never both miss each other."""
    return (
        await session.execute(
            select(PeerExercise)
            .where(PeerExercise.id == exercise_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class AllocationSummary:
    exercise_id: int
    submissions: int
    reviews: int
    min_load: int
    max_load: int
    notes: tuple[str, ...]


async def allocate_exercise(
    session: AsyncSession, exercise_id: int, now: datetime, *, on_demand: bool
) -> AllocationSummary | None:
    """Claim the exercise (open -> allocated) and allocate its submissions; None if another
    process (or an earlier run) already did."""
    from bot.peer.allocation import allocate

    claimed = await session.execute(
        update(PeerExercise)
        .where(PeerExercise.id == exercise_id, PeerExercise.status == ExerciseStatus.OPEN)
        .values(status=ExerciseStatus.ALLOCATED, allocated_at=now)
        .returning(PeerExercise.id)
    )
    if claimed.scalar_one_or_none() is None:
        return None
    exercise = await lock_exercise(session, exercise_id)
    assert exercise is not None
    module = await module_of(session, exercise)
    subs = await current_submissions(session, exercise.id)
    rules = await rules_for(session, exercise, module, subs)
    result = allocate(
        sorted(subs),
        k=exercise.reviews_per_submission,
        reviewers=rules.pool,
        groups=rules.groups,
        history=rules.history,
        forbid=rules.ended,
        seed=exercise.seed,
    )
    await add_assignments(
        session, exercise, module, result.assignments, origin="allocation", now=now
    )
    names = await names_of(session, [s.author for s in result.shortfalls])
    notes = list(result.notes)
    if not subs:
        notes.append("No submissions were received, so there is nothing to review.")
    for s in result.shortfalls:
        notes.append(f"{names.get(s.author, '?')}: {s.reason}.")
    exercise.allocation_notes = notes
    loads = list(result.loads.values())
    summary = AllocationSummary(
        exercise_id=exercise.id,
        submissions=len(subs),
        reviews=len(result.assignments),
        min_load=min(loads, default=0),
        max_load=max(loads, default=0),
        notes=tuple(notes),
    )
    when_text = "on request" if on_demand else "at the submission deadline"
    report = (
        f"Peer exercise #{exercise.id} “{exercise.title}” ({module.code}) was allocated "
        f"{when_text}: {summary.submissions} submission(s), {summary.reviews} review(s), "
        f"{summary.min_load}-{summary.max_load} per reviewer."
    )
    if notes:
        report += "\nCould not satisfy everything:\n" + "\n".join(f"• {n}" for n in notes)
    await tell_tutors(session, exercise, f"allocated:{exercise.id}", report, now)
    if subs:  # posted once the module channel is known (see create_exercise)
        closing = (
            "Reviewers have been allocated"
            if on_demand and not reached(exercise.submission_due_at, now)
            else "Submissions are closed"
        )
        text = (
            f"🔁 **{exercise.title}** (exercise #{exercise.id}): {closing}. "
            f"{summary.submissions} submissions are with their reviewers: check "
            f"your direct messages. Reviews are due "
            f"{render.when(exercise.review_due_at)}."
        )
        await post_to_channel(
            session, exercise, module, [(f"allocated-post:{exercise.id}", text)], now
        )
    return summary


@dataclass(frozen=True)
class Filled:
    """What topping up short submissions did: the new reviews and what is still missing."""

    added: tuple[ReviewAssignment, ...]
    shortfalls: tuple[Shortfall, ...]


async def fill_short(
    session: AsyncSession,
    exercise: PeerExercise,
    authors: Iterable[int],
    *,
    origin: str,
    now: datetime,
) -> Filled:
    """Bring these authors' submissions up to k reviewers from spare capacity.

    The allocator's rules decide who is eligible (never self, a group-mate when ruled out, a
    pair that exists or ended in this exercise, a reviewer who is gone); every kept pair stays.
    Used for late work and for a tutor's top-up (a departure goes through ``reassign_reviews``).
    """
    from bot.peer.allocation import allocate_late

    wanted = sorted(set(authors))
    if not wanted:
        return Filled((), ())
    module = await module_of(session, exercise)
    current = await assignments(session, exercise.id, ACTIVE)
    subs = await current_submissions(session, exercise.id)
    rules = await rules_for(session, exercise, module, subs)
    result = allocate_late(
        wanted,
        [Assignment(a.reviewer_id, a.author_id) for a in current],
        k=exercise.reviews_per_submission,
        reviewers=rules.pool,
        groups=rules.groups,
        history=rules.history,
        forbid=rules.ended,
        seed=exercise.seed + wanted[0] + len(current),
    )
    added = await add_assignments(session, exercise, module, result.added, origin=origin, now=now)
    shortfalls = tuple(s for s in result.shortfalls if s.author in set(wanted))
    return Filled(tuple(added), shortfalls)


async def short_authors(session: AsyncSession, exercise: PeerExercise) -> dict[int, int]:
    """Current submissions with fewer than k active reviews: author -> how many they have."""
    have = {author: 0 for author in await current_submissions(session, exercise.id)}
    for a in await assignments(session, exercise.id, ACTIVE):
        if a.author_id in have:
            have[a.author_id] += 1
    return {a: n for a, n in have.items() if n < exercise.reviews_per_submission}


async def allocate_late_author(
    session: AsyncSession, exercise: PeerExercise, author: int, now: datetime
) -> tuple[int, tuple[Shortfall, ...]]:
    """Reviewers for a submission accepted after allocation, from spare capacity."""
    filled = await fill_short(session, exercise, [author], origin="late", now=now)
    shortfalls = filled.shortfalls
    if shortfalls:
        names = await names_of(session, [author])
        s = shortfalls[0]
        await tell_tutors(
            session,
            exercise,
            f"late-short:{exercise.id}:{author}:{len(filled.added)}",
            f"Peer exercise #{exercise.id} “{exercise.title}”: the late submission of "
            f"{names.get(author, '?')} got {s.assigned} of {s.wanted} reviewers ({s.reason}).",
            now,
        )
    return len(filled.added), shortfalls

"""Scheduled peer-exercise work: allocate at the deadline, remind, reassign missed reviews,
close reviews, then deliver whatever the outbox holds.

``run_due`` is safe to run at any moment and from several processes: every step starts with an
atomic claim (an exercise's status or a column set only where it is still empty), so each thing
happens once, and a step that found nothing to do costs one query.

A review's due time is stored on it when it is given out, computed by the one rule
``reviewer_due_at`` (the announced review deadline; extra time only for late and
reassigned work); reminders and the missed-review step read that stored time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import ChatPort
from bot.db.engine import Database
from bot.db.models import AssignmentStatus, ExerciseStatus, PeerExercise, ReviewAssignment
from bot.due import reached
from bot.outbox import Outbox
from bot.peer import render
from bot.peer.allocating import allocate_exercise, lock_exercise
from bot.peer.assigning import describe_reassignment, reassign_reviews
from bot.peer.notices import send_direct, tell_tutors
from bot.peer.outbox import Delivery, deliver
from bot.peer.policy import REASSIGNABLE_ORIGINS
from bot.peer.reads import assignments, module_of, names_of
from bot.peer.results import recompute

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueReport:
    allocated: int
    reminded: int
    missed: int
    closed: int
    delivery: Delivery


async def run_due(
    db: Database, chat: ChatPort, now: datetime, *, sender: Outbox | None = None
) -> DueReport:
    due_ids = await _exercise_ids(
        db,
        select(PeerExercise.id).where(
            PeerExercise.status == ExerciseStatus.OPEN,
            PeerExercise.submission_due_at <= now,
        ),
    )
    allocated = await _each(db, due_ids, now, _allocate)
    late_ids = await _exercise_ids(
        db,
        select(ReviewAssignment.exercise_id)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
        .where(
            PeerExercise.status == ExerciseStatus.ALLOCATED,
            ReviewAssignment.status == AssignmentStatus.PENDING,
            ReviewAssignment.due_at <= now,
        ),
    )
    missed = await _each(db, late_ids, now, _missed)
    async with db.session() as s:
        reminded = await _reminders(s, now)
    closing = await _exercise_ids(
        db,
        select(PeerExercise.id).where(
            PeerExercise.status == ExerciseStatus.ALLOCATED,
            PeerExercise.review_due_at <= now,
            PeerExercise.review_closed_at.is_(None),
        ),
    )
    closed = await _each(db, closing, now, _close_reviews)
    delivery = await deliver(db, chat, now, sender=sender)
    if allocated or reminded or missed or closed:
        log.info(
            "peer due work: %d allocated, %d reminder(s), %d missed review(s), %d closed",
            allocated,
            reminded,
            missed,
            closed,
        )
    return DueReport(allocated, reminded, missed, closed, delivery)


async def _exercise_ids(db: Database, stmt: Select[tuple[int]]) -> list[int]:
    """The exercises a step must visit, read in a short transaction of their own."""
    async with db.session() as s:
        return sorted(set((await s.execute(stmt)).scalars()))


async def _each(
    db: Database,
    exercise_ids: list[int],
    now: datetime,
    step: Callable[[AsyncSession, int, datetime], Awaitable[int]],
) -> int:
    """One short transaction per exercise: its row lock is held only while it is handled."""
    done = 0
    for exercise_id in exercise_ids:
        async with db.session() as s:
            done += await step(s, exercise_id, now)
    return done


async def _allocate(s: AsyncSession, exercise_id: int, now: datetime) -> int:
    return 1 if await allocate_exercise(s, exercise_id, now, on_demand=False) else 0


async def _missed(s: AsyncSession, exercise_id: int, now: datetime) -> int:
    """Reviews past their deadline: first-round ones go to spare capacity, others are closed;
    either way the tutor hears what is still missing."""
    exercise = await lock_exercise(s, exercise_id)
    if exercise is None or exercise.status != ExerciseStatus.ALLOCATED:
        return 0
    overdue = [
        a
        for a in await assignments(s, exercise.id, [AssignmentStatus.PENDING])
        if a.due_at is not None and reached(a.due_at, now)
    ]
    if not overdue:
        return 0
    again = [a for a in overdue if a.origin in REASSIGNABLE_ORIGINS]
    final = [a for a in overdue if a.origin not in REASSIGNABLE_ORIGINS]
    for a in final:
        a.status = AssignmentStatus.CANCELLED
        a.end_reason = "missed"
    await s.flush()
    lines = [
        f"Review deadline passed in peer exercise #{exercise.id} “{exercise.title}”: "
        f"{len(overdue)} review(s) were not done."
    ]
    if again:
        outcome = await reassign_reviews(
            s, exercise, again, reason="missed", now=now, notify_dropped=True
        )
        due = max((a.due_at for a in outcome.added if a.due_at), default=None)
        lines.append(
            "Given to reviewers with spare capacity"
            + (f" (due {render.when(due)})" if due else "")
            + ":"
        )
        lines.append(await describe_reassignment(s, outcome))
    if final:
        people = [a.reviewer_id for a in final] + [a.author_id for a in final]
        names = await names_of(s, people)
        lines.append("Still missing (already reassigned once, so left to you):")
        lines.extend(
            f"• {names.get(a.reviewer_id, '?')}'s review of {names.get(a.author_id, '?')} "
            f"(Submission {a.anonymous_label})"
            for a in final
        )
    await tell_tutors(
        s, exercise, f"missed:{exercise.id}:{min(a.id for a in overdue)}", "\n".join(lines), now
    )
    return len(overdue)


async def _reminders(s: AsyncSession, now: datetime) -> int:
    """One DM per reviewer and exercise with pending work, ``reminder_hours`` before it is due."""
    rows = (
        await s.execute(
            select(ReviewAssignment, PeerExercise)
            .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
            .where(
                PeerExercise.status == ExerciseStatus.ALLOCATED,
                PeerExercise.reminder_hours > 0,
                ReviewAssignment.status == AssignmentStatus.PENDING,
                ReviewAssignment.reminded_at.is_(None),
                ReviewAssignment.dm_message_id.is_not(None),
                ReviewAssignment.due_at > now,
            )
        )
    ).all()
    groups: dict[tuple[int, int], list[ReviewAssignment]] = {}
    exercises: dict[int, PeerExercise] = {}
    for a, ex in rows:
        if a.due_at is None or not reached(a.due_at - timedelta(hours=ex.reminder_hours), now):
            continue
        groups.setdefault((ex.id, a.reviewer_id), []).append(a)
        exercises[ex.id] = ex
    sent = 0
    for (exercise_id, reviewer), items in sorted(groups.items()):
        claimed = list(
            (
                await s.execute(
                    update(ReviewAssignment)
                    .where(
                        ReviewAssignment.id.in_([a.id for a in items]),
                        ReviewAssignment.reminded_at.is_(None),
                    )
                    .values(reminded_at=now)
                    .returning(ReviewAssignment.id)
                )
            ).scalars()
        )
        mine = [a for a in items if a.id in claimed]
        if not mine:
            continue
        exercise = exercises[exercise_id]
        module = await module_of(s, exercise)
        due = min(a.due_at for a in mine if a.due_at is not None)
        text = render.reminder_dm(
            module_code=module.code,
            title=exercise.title,
            labels=sorted(a.anonymous_label for a in mine),
            due_at=due,
        )
        key = f"remind:{exercise_id}:{reviewer}:{min(claimed)}"
        await send_direct(s, exercise_id, "reminder", [(reviewer, key, text)], now)
        sent += 1
    return sent


async def _close_reviews(s: AsyncSession, exercise_id: int, now: datetime) -> int:
    """Once, after the review deadline: score everything and tell the tutor what to do next."""
    claimed = await s.execute(
        update(PeerExercise)
        .where(
            PeerExercise.id == exercise_id,
            PeerExercise.status == ExerciseStatus.ALLOCATED,
            PeerExercise.review_closed_at.is_(None),
        )
        .values(review_closed_at=now)
        .returning(PeerExercise.id)
    )
    if claimed.scalar_one_or_none() is None:
        return 0
    exercise = await lock_exercise(s, exercise_id)
    assert exercise is not None
    module = await module_of(s, exercise)
    results, _ = await recompute(s, exercise, now)
    rows = await assignments(s, exercise.id)
    done = sum(1 for a in rows if a.status == AssignmentStatus.DONE)
    pending = [a for a in rows if a.status == AssignmentStatus.PENDING]
    flagged = [r for r in results.values() if r.flagged and r.moderated is None]
    names = await names_of(s, [r.person_id for r in flagged])
    lines = [
        f"Reviews closed for peer exercise #{exercise.id} “{exercise.title}” ({module.code}): "
        f"{done} review(s) done for {len(results)} submission(s)."
    ]
    if pending:
        due = max(a.due_at for a in pending if a.due_at is not None)
        lines.append(
            f"{len(pending)} reassigned review(s) are still open until {render.when(due)}."
        )
    if flagged:
        lines.append(f"Flagged for moderation ({len(flagged)}):")
        lines.extend(f"• {names.get(r.person_id, '?')}: {r.flag_reason}" for r in flagged)
    lines.append(
        f"See `/exercise status exercise:{exercise.id}`; moderate with `/exercise moderate`, then "
        f"`/exercise release exercise:{exercise.id}`."
    )
    await tell_tutors(s, exercise, f"closed:{exercise.id}", "\n".join(lines), now)
    return 1


async def undeliverable(s: AsyncSession, assignment_id: int, now: datetime) -> None:
    """A review request that can never reach its reviewer goes to someone else."""
    a = await s.get(ReviewAssignment, assignment_id)
    if a is None:
        return
    exercise = await lock_exercise(s, a.exercise_id)
    if exercise is None or exercise.status != ExerciseStatus.ALLOCATED:
        return
    pending = {x.id: x for x in await assignments(s, exercise.id, [AssignmentStatus.PENDING])}
    if assignment_id not in pending:
        return
    outcome = await reassign_reviews(
        s, exercise, [pending[assignment_id]], reason="undeliverable", now=now
    )
    detail = await describe_reassignment(s, outcome)
    await tell_tutors(
        s,
        exercise,
        f"undeliverable:{assignment_id}",
        f"A review request in peer exercise #{exercise.id} “{exercise.title}” could not be "
        f"delivered (closed DMs or no linked account), so it was reassigned:\n{detail}",
        now,
    )

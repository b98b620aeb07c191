"""Giving out and taking back reviews: new assignments, reassignment of dropped ones.

The same code serves allocation, late work, departures and tutor commands, inside the
caller's transaction.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AssignmentStatus, Module, PeerExercise, ReviewAssignment
from bot.outbox import Message, enqueue
from bot.peer.allocation import Assignment, Shortfall, reassign
from bot.peer.notices import cancel_requests, enqueue_withdrawn, review_request
from bot.peer.policy import ACTIVE, reviewer_due_at
from bot.peer.reads import assignments, current_submissions, module_of, names_of, rules_for
from bot.peer.rubric import Rubric, label_for

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- assignments


async def add_assignments(
    session: AsyncSession,
    exercise: PeerExercise,
    module: Module,
    pairs: Iterable[Assignment],
    *,
    origin: str,
    now: datetime,
) -> list[ReviewAssignment]:
    """Store new pairs and enqueue each reviewer's request (with the anonymised submission)."""
    pairs = sorted(set(pairs))
    if not pairs:
        return []
    subs = await current_submissions(session, exercise.id)
    labels: dict[int, str] = {
        author: label
        for author, label in (
            await session.execute(
                select(ReviewAssignment.author_id, ReviewAssignment.anonymous_label).where(
                    ReviewAssignment.exercise_id == exercise.id
                )
            )
        ).all()
    }
    used = set(labels.values())
    fresh = sorted({p.author for p in pairs} - set(labels))
    random.Random(exercise.seed * 7919 + len(labels)).shuffle(fresh)
    index = 0
    for author in fresh:
        while label_for(index) in used:
            index += 1
        labels[author] = label_for(index)
        used.add(labels[author])
    due = reviewer_due_at(exercise, origin, now)
    values = [
        {
            "exercise_id": exercise.id,
            "reviewer_id": p.reviewer,
            "author_id": p.author,
            "status": AssignmentStatus.PENDING,
            "assigned_at": now,
            "anonymous_label": labels[p.author],
            "submission_id": subs[p.author].id if p.author in subs else None,
            "due_at": due,
            "origin": origin,
        }
        for p in pairs
    ]
    # One multi-row INSERT (the unit of work would send one per row), then the rows back.
    ids = list(
        (await session.execute(insert(ReviewAssignment).returning(ReviewAssignment.id), values))
        .scalars()
        .all()
    )
    rows: list[ReviewAssignment] = []
    for lo in range(0, len(ids), 5000):
        rows += (
            await session.execute(
                select(ReviewAssignment)
                .where(ReviewAssignment.id.in_(ids[lo : lo + 5000]))
                .order_by(ReviewAssignment.id)
            )
        ).scalars()
    rubric = Rubric.from_json(exercise.rubric)
    names = {} if exercise.double_blind else await names_of(session, [r.author_id for r in rows])
    messages: list[Message] = []
    for row in rows:
        sub = subs.get(row.author_id)
        if sub is None:
            continue
        messages.extend(
            review_request(exercise, module, rubric, row, sub, names.get(row.author_id))
        )
    await enqueue(session, messages, now)
    log.info("peer exercise %s: %d review(s) assigned (%s)", exercise.id, len(rows), origin)
    return rows


@dataclass(frozen=True)
class Reassigned:
    dropped: tuple[ReviewAssignment, ...]
    added: tuple[ReviewAssignment, ...]
    shortfalls: tuple[Shortfall, ...]


async def reassign_reviews(
    session: AsyncSession,
    exercise: PeerExercise,
    dropped: Sequence[ReviewAssignment],
    *,
    reason: str,
    now: datetime,
    status: AssignmentStatus = AssignmentStatus.REASSIGNED,
    notify_dropped: bool = False,
) -> Reassigned:
    """Take pending reviews away from their reviewers and give them to spare capacity.

    The dropped reviewers get nothing more in this call; those who left, missed a deadline or
    cannot be reached are out of the exercise's pool for good. Every other pair is kept.
    """
    if not dropped:
        return Reassigned((), (), ())
    module = await module_of(session, exercise)
    current = await assignments(session, exercise.id, ACTIVE)
    current_pairs = [Assignment(a.reviewer_id, a.author_id) for a in current]
    drop_pairs = [Assignment(a.reviewer_id, a.author_id) for a in dropped]
    for a in dropped:
        a.status = status
        a.end_reason = reason
    await session.flush()
    await cancel_requests(session, [a.id for a in dropped])
    subs = await current_submissions(session, exercise.id)
    rules = await rules_for(session, exercise, module, subs)
    out = {a.reviewer_id for a in dropped}
    result = reassign(
        current_pairs,
        drop_pairs,
        reviewers=rules.pool - out,
        exclude=out,
        groups=rules.groups,
        history=rules.history,
        forbid=rules.ended,
        seed=exercise.seed + len(current_pairs),
    )
    seen = {(a.reviewer_id, a.author_id) for a in await assignments(session, exercise.id, None)}
    fresh = [p for p in result.added if (p.reviewer, p.author) not in seen]
    added = await add_assignments(session, exercise, module, fresh, origin="reassigned", now=now)
    if notify_dropped:
        await enqueue_withdrawn(session, exercise, module, dropped, reason, now)
    have: dict[int, int] = {}
    for a in await assignments(session, exercise.id, ACTIVE):
        have[a.author_id] = have.get(a.author_id, 0) + 1
    shortfalls = tuple(
        s for s in result.shortfalls if have.get(s.author, 0) < exercise.reviews_per_submission
    )
    log.info(
        "peer exercise %s: %d review(s) reassigned (%s), %d placed",
        exercise.id,
        len(dropped),
        reason,
        len(added),
    )
    return Reassigned(tuple(dropped), tuple(added), shortfalls)


async def describe_reassignment(session: AsyncSession, outcome: Reassigned) -> str:
    """For the tutor: who lost which reviews, who took them, what is still missing."""
    ids = [a.reviewer_id for a in outcome.dropped] + [a.author_id for a in outcome.dropped]
    ids += [a.reviewer_id for a in outcome.added] + [s.author for s in outcome.shortfalls]
    names = await names_of(session, ids)
    lines: list[str] = []
    for a in outcome.dropped:
        takers = [
            names.get(b.reviewer_id, "?") for b in outcome.added if b.author_id == a.author_id
        ]
        dest = ", ".join(sorted(set(takers))) or "nobody (no spare reviewer)"
        lines.append(
            f"• {names.get(a.reviewer_id, '?')}'s review of {names.get(a.author_id, '?')} "
            f"(Submission {a.anonymous_label}) → {dest}"
        )
    for s in outcome.shortfalls:
        lines.append(
            f"• Still missing: {names.get(s.author, '?')} has {s.assigned} of {s.wanted} "
            f"reviewers ({s.reason})."
        )
    return "\n".join(lines)

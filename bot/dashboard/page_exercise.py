"""The peer exercise page: allocation, progress, flagged results and reviewer bias."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dashboard.shared import _names
from bot.dashboard.viewer import Viewer, _staff_module
from bot.db.models import (
    AssignmentStatus,
    Enrolment,
    Module,
    PeerExercise,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
)
from bot.errors import NotFound


@dataclass(frozen=True)
class AllocationRow:
    author: str
    submitted: str
    reviewers: list[tuple[str, str]]  # (reviewer, status)
    final: Decimal | None
    disagreement: Decimal | None
    flag: str | None


@dataclass(frozen=True)
class ReviewerBias:
    reviewer: str
    reviews: int
    mean_offset: float


@dataclass
class ExercisePage:
    exercise: PeerExercise
    module: Module
    status: str
    progress: dict[str, int]
    rows: list[AllocationRow]
    flagged: int
    bias: list[ReviewerBias]


async def exercise_page(
    session: AsyncSession, viewer: Viewer, exercise_id: int, now: datetime
) -> ExercisePage:
    exercise = await session.get(PeerExercise, exercise_id)
    if exercise is None:
        raise NotFound("There is no such peer exercise.")
    module = await _staff_module(session, viewer, exercise.module_id)
    names = _names(
        (
            await session.execute(
                select(Person.id, Person.display_name)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .where(Enrolment.module_id == module.id)
            )
        ).all()
    )
    submitted = {
        pid: ("late" if late else "on time")
        for pid, late in (
            await session.execute(
                select(PeerSubmission.person_id, PeerSubmission.late).where(
                    PeerSubmission.exercise_id == exercise.id, PeerSubmission.is_current.is_(True)
                )
            )
        ).all()
    }
    assignments = (
        await session.execute(
            select(
                ReviewAssignment.reviewer_id,
                ReviewAssignment.author_id,
                ReviewAssignment.status,
                ReviewAssignment.end_reason,
                ReviewAssignment.due_at,
                PeerReview.total,
            )
            .outerjoin(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
            .where(ReviewAssignment.exercise_id == exercise.id)
            .order_by(ReviewAssignment.id)
        )
    ).all()
    results = {
        r.person_id: r
        for r in (
            await session.execute(select(PeerResult).where(PeerResult.exercise_id == exercise.id))
        )
        .scalars()
        .all()
    }
    progress: Counter[str] = Counter()
    by_author: dict[int, list[tuple[str, str]]] = defaultdict(list)
    offsets: dict[int, list[float]] = defaultdict(list)
    for reviewer, author, status, end_reason, due, total in assignments:
        due_at = due or exercise.review_due_at
        if status == AssignmentStatus.DONE:
            label = "done"
        elif status == AssignmentStatus.PENDING:
            label = "overdue" if due_at <= now else "pending"
        else:
            label = end_reason or str(status)
        progress[label] += 1
        by_author[author].append((names.get(reviewer, f"#{reviewer}"), label))
        result = results.get(author)
        if total is not None and result is not None and result.median is not None:
            offsets[reviewer].append(float(total - result.median))
    authors = sorted(set(submitted) | set(by_author), key=lambda p: names.get(p, ""))
    rows = [
        AllocationRow(
            names.get(a, f"#{a}"),
            submitted.get(a, "missing"),
            by_author.get(a, []),
            results[a].final if a in results else None,
            results[a].disagreement if a in results else None,
            (results[a].flag_reason or "flagged") if a in results and results[a].flagged else None,
        )
        for a in authors
    ]
    bias = sorted(
        (
            ReviewerBias(names.get(r, f"#{r}"), len(v), sum(v) / len(v))
            for r, v in offsets.items()
            if v
        ),
        key=lambda b: -abs(b.mean_offset),
    )
    return ExercisePage(
        exercise,
        module,
        str(exercise.status),
        {k: progress.get(k, 0) for k in ("done", "pending", "overdue", "missed", "left")},
        rows,
        sum(1 for r in rows if r.flag),
        bias[:20],
    )

"""Students write reviews: the form for an assignment and saving what they wrote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller
from bot.db.models import (
    AssignmentStatus,
    ExerciseStatus,
    LedgerSource,
    PeerExercise,
    PeerReview,
    ReviewAssignment,
)
from bot.due import is_late
from bot.errors import NotFound, PermissionDenied, UserError
from bot.gradebook import ledger
from bot.peer import render
from bot.peer.common import MAX_COMMENT, exercise_credit, user_error
from bot.peer.policy import due_of
from bot.peer.reads import module_of
from bot.peer.rubric import Criterion, Rubric, RubricError, format_score

# --------------------------------------------------------------------------- reviewing


@dataclass(frozen=True)
class ReviewForm:
    assignment_id: int
    label: str
    title: str
    criteria: tuple[Criterion, ...]
    scores: dict[str, str]
    comments: str


async def _own_assignment(
    session: AsyncSession, caller: Caller, assignment_id: int, now: datetime
) -> tuple[ReviewAssignment, PeerExercise]:
    assignment = await session.get(ReviewAssignment, assignment_id)
    if assignment is None:
        raise NotFound("This review request no longer exists.")
    exercise = await session.get(PeerExercise, assignment.exercise_id)
    assert exercise is not None
    module = await module_of(session, exercise)
    if module.cohort_id != caller.cohort_id:
        raise NotFound("This review request no longer exists.")
    if assignment.reviewer_id != caller.person.id:
        raise PermissionDenied("This review was assigned to someone else.")
    if assignment.status in (AssignmentStatus.REASSIGNED, AssignmentStatus.CANCELLED):
        raise UserError(
            f"Submission {assignment.anonymous_label} was given to another reviewer, so there "
            "is nothing more to do here."
        )
    if exercise.status == ExerciseStatus.RELEASED:
        raise UserError(f"Feedback for “{exercise.title}” has been released; reviews are closed.")
    review_due = due_of(exercise, assignment)
    if is_late(now, review_due):
        raise UserError(
            f"The deadline for this review passed {render.when(review_due)}; it can no longer be "
            "changed."
        )
    return assignment, exercise


async def review_form(
    session: AsyncSession, caller: Caller, assignment_id: int, now: datetime
) -> ReviewForm:
    """What the review modal shows: the rubric and, when editing, the earlier answers."""
    assignment, exercise = await _own_assignment(session, caller, assignment_id, now)
    rubric = Rubric.from_json(exercise.rubric)
    review = (
        await session.execute(select(PeerReview).where(PeerReview.assignment_id == assignment.id))
    ).scalar_one_or_none()
    scores = (
        {c.name: format_score(review.scores[c.name]) for c in rubric.criteria} if review else {}
    )
    return ReviewForm(
        assignment_id=assignment.id,
        label=assignment.anonymous_label,
        title=exercise.title,
        criteria=rubric.criteria,
        scores=scores,
        comments=review.comments if review else "",
    )


@dataclass(frozen=True)
class ReviewSaved:
    label: str
    total: Decimal
    updated: bool
    text: str


async def submit_review(
    session: AsyncSession,
    caller: Caller,
    assignment_id: int,
    *,
    scores: dict[str, str],
    comments: str,
    now: datetime,
) -> ReviewSaved:
    assignment, exercise = await _own_assignment(session, caller, assignment_id, now)
    rubric = Rubric.from_json(exercise.rubric)
    try:
        values = rubric.check_scores(scores)
    except RubricError as exc:
        raise user_error(exc) from exc
    comments = comments.strip()
    if not comments:
        raise UserError("Please write a comment for the author: what works, and what to improve.")
    if len(comments) > MAX_COMMENT:
        raise UserError(f"Keep the comment to {MAX_COMMENT} characters.")
    total = rubric.total(values)
    review = (
        await session.execute(select(PeerReview).where(PeerReview.assignment_id == assignment.id))
    ).scalar_one_or_none()
    updated = review is not None
    if review is None:
        session.add(
            PeerReview(
                assignment_id=assignment.id,
                scores=values,
                comments=comments,
                total=total,
                submitted_at=now,
                idempotency_key=f"review:{assignment.id}",
            )
        )
    else:
        review.scores = values
        review.comments = comments
        review.total = total
        review.submitted_at = now
    if assignment.status != AssignmentStatus.DONE:
        assignment.status = AssignmentStatus.DONE
        assignment.completed_at = now
    module = await module_of(session, exercise)
    await ledger.credit(
        session,
        [
            exercise_credit(
                exercise,
                module,
                caller.person.id,
                LedgerSource.PEER_REVIEW_COMPLETED,
                f"peer:{exercise.id}:{assignment.id}:review",
                Decimal(1),
                now,
            )
        ],
        at=now,
    )
    await session.flush()
    due = due_of(exercise, assignment)
    verb = "updated" if updated else "recorded"
    text = (
        f"✅ Your review of Submission {assignment.anonymous_label} for “{exercise.title}” is "
        f"{verb}: {format_score(total)}/100. You can change it until {render.when(due)}."
    )
    return ReviewSaved(assignment.anonymous_label, total, updated, text)

"""Scoring: the reviews of each author aggregated into a result and a final mark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AssignmentStatus,
    ExerciseStatus,
    PeerExercise,
    PeerResult,
    PeerReview,
    ReviewAssignment,
)
from bot.peer.aggregation import Method, Review, aggregate
from bot.peer.policy import dec, tenth
from bot.peer.reads import current_submissions

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ReviewerInfo:
    agreement: float | None
    bias: float
    n_reviews: int


async def recompute(
    session: AsyncSession, exercise: PeerExercise, now: datetime
) -> tuple[dict[int, PeerResult], dict[int, ReviewerInfo]]:
    """Score every current submission; the corrected fit pools the module's exercises.

    Moderated marks are kept. Returns results by author and, for this exercise's reviewers,
    their agreement with the others (for agreement-weighted credit) and pooled bias.
    """
    ex_ids = list(
        await session.scalars(
            select(PeerExercise.id).where(
                PeerExercise.module_id == exercise.module_id,
                PeerExercise.status != ExerciseStatus.CANCELLED,
                PeerExercise.aggregation != Method.CORRECTED_ALONE.value,
            )
        )
    )
    if not Method(exercise.aggregation).pools:
        ex_ids = [exercise.id]
    rows = (
        await session.execute(
            select(
                ReviewAssignment.exercise_id,
                ReviewAssignment.reviewer_id,
                ReviewAssignment.author_id,
                PeerReview.total,
            )
            .join(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
            .where(
                ReviewAssignment.exercise_id.in_(ex_ids),
                ReviewAssignment.status == AssignmentStatus.DONE,
            )
        )
    ).all()
    keys: dict[tuple[int, int], int] = {}
    pooled: list[Review] = []
    own: list[Review] = []
    for ex_id, reviewer, author, total in rows:
        key = keys.setdefault((ex_id, author), len(keys))
        review = Review(reviewer, key, float(total))
        pooled.append(review)
        if ex_id == exercise.id:
            own.append(review)
    fit = aggregate(pooled)
    alone = aggregate(own)
    info = {
        r: ReviewerInfo(
            agreement=p.agreement,
            bias=fit.reviewers[r].bias if r in fit.reviewers else 0.0,
            n_reviews=p.n_reviews,
        )
        for r, p in alone.reviewers.items()
    }
    subs = await current_submissions(session, exercise.id)
    existing = {
        r.person_id: r
        for r in (
            await session.scalars(select(PeerResult).where(PeerResult.exercise_id == exercise.id))
        )
    }
    penalty_pct = Decimal(str(exercise.late_policy.get("penalty", 0)))
    results: dict[int, PeerResult] = {}
    for author, sub in sorted(subs.items()):
        result = existing.get(author)
        if result is None:
            result = PeerResult(exercise_id=exercise.id, person_id=author)
            session.add(result)
        found = keys.get((exercise.id, author))
        score = fit.submissions.get(found) if found is not None else None
        result.penalty = penalty_pct if sub.late else Decimal(0)
        result.computed_at = now
        if score is None:
            result.n_reviews = 0
            result.median = result.mean = result.corrected = result.disagreement = None
            result.flagged = True
            result.flag_reason = "no peer reviews"
        else:
            result.n_reviews = score.n_reviews
            result.median = dec(score.median)
            result.mean = dec(score.mean)
            result.corrected = dec(score.corrected)
            result.disagreement = dec(score.disagreement)
            result.flagged = score.flagged
            result.flag_reason = score.flag_reason
        result.final = final_mark(exercise, result)
        results[author] = result
    await session.flush()
    return results, info


def final_mark(exercise: PeerExercise, result: PeerResult) -> Decimal | None:
    """A tutor's moderated mark as is; else the exercise's method, less any late penalty."""
    if result.moderated is not None:
        return tenth(result.moderated)
    chosen = {
        "median": result.median,
        "mean": result.mean,
        "corrected": result.corrected,
        "corrected_alone": result.corrected,
    }.get(exercise.aggregation, result.median)
    if chosen is None:
        return None
    return tenth(chosen * (Decimal(100) - result.penalty) / Decimal(100))

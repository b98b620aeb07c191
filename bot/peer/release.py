"""Releasing an exercise: final marks to the ledger, feedback to authors, the class told."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller
from bot.db.models import (
    AssignmentStatus,
    Cohort,
    ExerciseStatus,
    LedgerSource,
    MarkRelease,
    Module,
    PeerExercise,
    PeerResult,
)
from bot.due import reached
from bot.errors import UserError
from bot.gradebook import audit, ledger
from bot.peer import render
from bot.peer.common import ITEM_TYPE, exercise_credit, staff_exercise
from bot.peer.notices import enqueue_feedback, post_to_channel
from bot.peer.policy import dec, due_of
from bot.peer.reads import assignments, names_of
from bot.peer.results import recompute

log = logging.getLogger(__name__)


async def stored_results(session: AsyncSession, exercise_id: int) -> dict[int, PeerResult]:
    rows = await session.execute(select(PeerResult).where(PeerResult.exercise_id == exercise_id))
    return {r.person_id: r for r in rows.scalars()}


def score_credit(
    exercise: PeerExercise, module: Module, result: PeerResult, now: datetime
) -> ledger.Credit:
    assert result.ledger_key is not None and result.final is not None
    return exercise_credit(
        exercise,
        module,
        result.person_id,
        LedgerSource.PEER_SCORE_RECEIVED,
        result.ledger_key,
        result.final,
        now,
    )


async def release(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    accept_flagged: bool = False,
    now: datetime,
) -> str:
    """Publish the marks: ledger credits, a mark-release record, and each author's feedback."""
    exercise, module = await staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status == ExerciseStatus.RELEASED:
        raise UserError(
            f"Exercise #{exercise.id} was already released "
            f"{render.when(exercise.released_at or now)}."
        )
    if exercise.status != ExerciseStatus.ALLOCATED:
        raise UserError(f"Exercise #{exercise.id} has not been allocated and reviewed yet.")
    pending = await assignments(session, exercise.id, [AssignmentStatus.PENDING])
    latest = max((due_of(exercise, a) for a in pending), default=None)
    if latest is not None and not reached(latest, now):
        raise UserError(
            f"{len(pending)} review(s) are still open until {render.when(latest)}; release after "
            "that (or move them with `/exercise reassign`)."
        )
    results, info = await recompute(session, exercise, now)
    open_flags = [r for r in results.values() if r.flagged and r.moderated is None]
    if open_flags and not accept_flagged:
        names = await names_of(session, [r.person_id for r in open_flags])
        listed = "; ".join(
            f"{names.get(r.person_id, '?')} ({r.flag_reason})" for r in open_flags[:10]
        )
        raise UserError(
            f"{len(open_flags)} submission(s) are flagged for moderation: {listed}. Moderate "
            "them with `/exercise moderate`, or release anyway with accept_flagged:True."
        )
    claimed = await session.execute(
        update(PeerExercise)
        .where(PeerExercise.id == exercise.id, PeerExercise.status == ExerciseStatus.ALLOCATED)
        .values(status=ExerciseStatus.RELEASED, released_at=now, released_by_id=caller.person.id)
        .returning(PeerExercise.id)
    )
    if claimed.scalar_one_or_none() is None:
        raise UserError(f"Exercise #{exercise.id} is being released already.")
    for pending_row in pending:
        pending_row.status = AssignmentStatus.CANCELLED
        pending_row.end_reason = pending_row.end_reason or "missed"
    credits: list[ledger.Credit] = []
    for result in results.values():
        if result.final is None:
            continue
        result.ledger_key = f"peer:{exercise.id}:{result.person_id}:score"
        credits.append(score_credit(exercise, module, result, now))
    weighted = 0
    if exercise.agreement_weighting:
        done = await assignments(session, exercise.id, [AssignmentStatus.DONE])
        for a in done:
            agreement = info[a.reviewer_id].agreement if a.reviewer_id in info else None
            if agreement is None:
                continue
            key = f"peer:{exercise.id}:{a.id}:review"
            await ledger.reverse(session, key, "weighted by agreement with the consensus", at=now)
            credits.append(
                exercise_credit(
                    exercise,
                    module,
                    a.reviewer_id,
                    LedgerSource.PEER_REVIEW_COMPLETED,
                    f"{key}:weighted",
                    dec(agreement) or Decimal(0),
                    now,
                    note="review credit x agreement with the other reviewers",
                )
            )
            weighted += 1
    await ledger.credit(session, credits, at=now)
    session.add(
        MarkRelease(
            module_id=module.id,
            item_type=ITEM_TYPE,
            item_id=exercise.id,
            released_at=now,
            released_by_id=caller.person.id,
        )
    )
    await audit.record_of(
        session,
        caller.person,
        "peer_release",
        exercise,
        module_id=module.id,
        after={"released": len(credits), "method": exercise.aggregation},
        reason=None,
        at=now,
    )
    await enqueue_feedback(session, exercise, module, results, now)
    # Posted once the module channel is known (see create_exercise).
    text = (
        f"📬 Peer feedback for **{exercise.title}** (exercise #{exercise.id}) "
        "has been released: each author has their reviews and mark by direct "
        "message. Marks are provisional until the exam board confirms them."
    )
    await post_to_channel(session, exercise, module, [(f"released-post:{exercise.id}", text)], now)
    marked = sum(1 for r in results.values() if r.final is not None)
    log.info("peer exercise %s released: %d mark(s)", exercise.id, marked)
    return (
        f"Released exercise #{exercise.id} “{exercise.title}”: {marked} mark(s) released "
        f"with their feedback"
        + (
            f"; {len(results) - marked} without a mark (no reviews)"
            if marked < len(results)
            else ""
        )
        + (f"; {weighted} review credit(s) weighted by agreement" if weighted else "")
        + "."
    )

"""The peer service's shared moves: who may review, creating assignments, reassigning, scoring.

Commands (``service``) and scheduled work (``due``) both go through these, so a late
submission, a departed reviewer and a missed deadline are handled by the same code, inside the
caller's transaction. Messages they cause are enqueued in the outbox in that same transaction.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import PurePosixPath

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AssignmentStatus,
    Enrolment,
    EnrolmentStatus,
    ExerciseStatus,
    GroupMembership,
    Module,
    PeerExercise,
    PeerOutbox,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
    Role,
    StudyGroup,
)
from bot.peer import render
from bot.peer.aggregation import Method, Review, aggregate
from bot.peer.allocation import Assignment, Shortfall, reassign
from bot.peer.outbox import Outgoing, enqueue
from bot.peer.rubric import Rubric, label_for

log = logging.getLogger(__name__)

#: Work accepted late (or reassigned) still gets at least this long to be reviewed.
MIN_REVIEW_WINDOW = timedelta(hours=48)
#: Origins of reviews given out after allocation, which get the extra time (docs/peer.md).
EXTRA_TIME_ORIGINS = ("late", "reassigned", "manual", "topup")
ACTIVE = (AssignmentStatus.PENDING, AssignmentStatus.DONE)
#: Reasons that take a reviewer out of the exercise's pool for good.
GONE = ("left", "missed", "undeliverable")
#: Only first-round reviews are reassigned when missed; a missed reassignment is reported.
REASSIGNABLE_ORIGINS = ("allocation", "late")
REVIEW_BUTTON = "Write review"
_TENTH = Decimal("0.1")


def reviewer_due_at(exercise: PeerExercise, origin: str, assigned_at: datetime) -> datetime:
    """When one review is due: the one rule behind the DMs, reminders, status and release.

    Reviews allocated with the exercise are due at the review deadline the class was told.
    Late and reassigned work (and reviews a tutor tops up) get at least
    ``MIN_REVIEW_WINDOW`` from when they were given out; so does an allocation that only
    happened after the review deadline had passed (nobody can review in no time).
    """
    told = exercise.review_due_at
    if origin in EXTRA_TIME_ORIGINS or assigned_at >= told:
        return max(told, assigned_at + MIN_REVIEW_WINDOW)
    return told


def due_of(exercise: PeerExercise, assignment: ReviewAssignment) -> datetime:
    """A stored review's due time (set by ``reviewer_due_at`` when it was given out)."""
    if assignment.due_at is not None:
        return assignment.due_at
    return reviewer_due_at(exercise, assignment.origin, assignment.assigned_at)


def review_custom_id(assignment_id: int) -> str:
    return f"cb:peer:review:{assignment_id}"


def dec(value: float | None, places: str = "0.001") -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def tenth(value: Decimal) -> Decimal:
    return value.quantize(_TENTH, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------- reads


async def module_of(session: AsyncSession, exercise: PeerExercise) -> Module:
    module = await session.get(Module, exercise.module_id)
    assert module is not None
    return module


async def current_submissions(session: AsyncSession, exercise_id: int) -> dict[int, PeerSubmission]:
    rows = await session.execute(
        select(PeerSubmission).where(
            PeerSubmission.exercise_id == exercise_id, PeerSubmission.is_current.is_(True)
        )
    )
    return {s.person_id: s for s in rows.scalars()}


async def assignments(
    session: AsyncSession, exercise_id: int, statuses: Sequence[AssignmentStatus] | None = None
) -> list[ReviewAssignment]:
    """Fresh from the database (not the session's cached copies): status is what decides."""
    stmt = select(ReviewAssignment).where(ReviewAssignment.exercise_id == exercise_id)
    if statuses is not None:
        stmt = stmt.where(ReviewAssignment.status.in_(list(statuses)))
    stmt = stmt.order_by(ReviewAssignment.id).execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def module_people(session: AsyncSession, module_id: int, role: Role) -> set[int]:
    rows = await session.execute(
        select(Enrolment.person_id).where(
            Enrolment.module_id == module_id,
            Enrolment.role == role,
            Enrolment.status == EnrolmentStatus.ACTIVE,
        )
    )
    return set(rows.scalars())


async def groups_of(
    session: AsyncSession, cohort_id: int, people: Iterable[int]
) -> dict[int, frozenset[int]]:
    wanted = sorted(set(people))
    if not wanted:
        return {}
    rows = await session.execute(
        select(GroupMembership.person_id, GroupMembership.group_id)
        .join(StudyGroup, StudyGroup.id == GroupMembership.group_id)
        .where(StudyGroup.cohort_id == cohort_id, GroupMembership.person_id.in_(wanted))
    )
    out: dict[int, set[int]] = {}
    for person_id, group_id in rows.all():
        out.setdefault(person_id, set()).add(group_id)
    return {p: frozenset(g) for p, g in out.items()}


async def history_pairs(session: AsyncSession, exercise: PeerExercise) -> set[tuple[int, int]]:
    """Reviewer -> author pairs of the module's earlier exercises (to avoid repeating them)."""
    rows = await session.execute(
        select(ReviewAssignment.reviewer_id, ReviewAssignment.author_id)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
        .where(
            PeerExercise.module_id == exercise.module_id,
            PeerExercise.id < exercise.id,
            PeerExercise.status != ExerciseStatus.CANCELLED,
        )
    )
    return {(r, a) for r, a in rows.all()}


async def gone_reviewers(session: AsyncSession, exercise_id: int) -> set[int]:
    rows = await session.execute(
        select(ReviewAssignment.reviewer_id).where(
            ReviewAssignment.exercise_id == exercise_id, ReviewAssignment.end_reason.in_(GONE)
        )
    )
    return set(rows.scalars())


async def names_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Person.id, Person.display_name).where(Person.id.in_(wanted))
    )
    return {pid: name for pid, name in rows.all()}


@dataclass
class Rules:
    """Everything the pure allocator needs about an exercise, read once."""

    pool: set[int]
    groups: dict[int, frozenset[int]] | None
    history: set[tuple[int, int]]
    #: Pairs of this exercise that ended (moved away, missed, cancelled): never again.
    ended: set[tuple[int, int]]


async def rules_for(
    session: AsyncSession, exercise: PeerExercise, module: Module, submitters: Iterable[int]
) -> Rules:
    """The eligible pool (submitters, or all enrolled students) minus reviewers who are gone."""
    subs = set(submitters)
    if exercise.reviewers_from_submitters_only:
        pool = set(subs)
    else:
        pool = await module_people(session, module.id, Role.STUDENT) | subs
    pool -= await gone_reviewers(session, exercise.id)
    groups = (
        await groups_of(session, module.cohort_id, pool | subs)
        if exercise.avoid_same_group
        else None
    )
    history = await history_pairs(session, exercise) if exercise.avoid_repeat_pairs else set()
    return Rules(
        pool=pool, groups=groups, history=history, ended=await ended_pairs(session, exercise.id)
    )


async def ended_pairs(session: AsyncSession, exercise_id: int) -> set[tuple[int, int]]:
    """Reviewer -> author pairs of this exercise that are no longer active."""
    rows = await session.execute(
        select(ReviewAssignment.reviewer_id, ReviewAssignment.author_id).where(
            ReviewAssignment.exercise_id == exercise_id,
            ReviewAssignment.status.not_in(list(ACTIVE)),
        )
    )
    return {(r, a) for r, a in rows.all()}


async def tutors_to_tell(session: AsyncSession, exercise: PeerExercise) -> list[int]:
    """The exercise's author, else the module's tutors: who hears what is still missing."""
    if exercise.created_by_id is not None:
        return [exercise.created_by_id]
    return sorted(await module_people(session, exercise.module_id, Role.TUTOR))


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
    messages: list[Outgoing] = []
    for row in rows:
        sub = subs.get(row.author_id)
        if sub is None:
            continue
        messages.extend(_request(exercise, module, rubric, row, sub, names.get(row.author_id)))
    await enqueue(session, messages, now)
    log.info("peer exercise %s: %d review(s) assigned (%s)", exercise.id, len(rows), origin)
    return rows


def _request(
    exercise: PeerExercise,
    module: Module,
    rubric: Rubric,
    row: ReviewAssignment,
    sub: PeerSubmission,
    author_name: str | None,
) -> list[Outgoing]:
    file_note = None
    file: tuple[int, str] | None = None
    if sub.kind == "file":
        suffix = PurePosixPath(sub.filename or "").suffix[:10]
        shown = f"submission-{row.anonymous_label}{suffix}"
        file = (sub.id, shown)
        file_note = f"{shown}, {render.size_text(sub.size_bytes or 0)}"
    parts = render.assignment_dm(
        module_code=module.code,
        title=exercise.title,
        brief=exercise.brief,
        label=row.anonymous_label,
        author_name=author_name,
        rubric=rubric,
        due_at=due_of(exercise, row),
        kind=str(sub.kind),
        content=sub.content,
        file_note=file_note,
    )
    out: list[Outgoing] = []
    last = len(parts) - 1
    for i, text in enumerate(parts):
        out.append(
            Outgoing(
                dedupe_key=f"assign:{row.id}:{i}",
                exercise_id=exercise.id,
                kind="assignment" if i == last else "assignment-part",
                text=text,
                person_id=row.reviewer_id,
                assignment_id=row.id,
                button=(REVIEW_BUTTON, review_custom_id(row.id)) if i == last else None,
                file=file if i == 0 else None,
            )
        )
    return out


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


async def cancel_requests(session: AsyncSession, assignment_ids: Sequence[int]) -> None:
    """Review requests not yet sent for reviews taken away: never send them."""
    if assignment_ids:
        await session.execute(
            update(PeerOutbox)
            .where(
                PeerOutbox.assignment_id.in_(list(assignment_ids)),
                PeerOutbox.status == "pending",
            )
            .values(status="cancelled")
        )


async def enqueue_withdrawn(
    session: AsyncSession,
    exercise: PeerExercise,
    module: Module,
    dropped: Sequence[ReviewAssignment],
    reason: str,
    now: datetime,
) -> None:
    """Tell reviewers a request of theirs is off their list (by its label only)."""
    await enqueue(
        session,
        [
            Outgoing(
                dedupe_key=f"withdrawn:{a.id}",
                exercise_id=exercise.id,
                kind="withdrawn",
                text=render.withdrawn_dm(
                    module_code=module.code,
                    title=exercise.title,
                    label=a.anonymous_label,
                    reason=reason,
                ),
                person_id=a.reviewer_id,
            )
            for a in dropped
        ],
        now,
    )


async def tell_tutors(
    session: AsyncSession, exercise: PeerExercise, key: str, text: str, now: datetime
) -> None:
    """A private note to the exercise's tutor(s); names are fine here, it is staff-only."""
    from bot.discussions.text import split_for_discord

    tutors = await tutors_to_tell(session, exercise)
    messages = [
        Outgoing(
            dedupe_key=f"tutor:{key}:{tid}:{i}",
            exercise_id=exercise.id,
            kind="tutor",
            text=part,
            person_id=tid,
        )
        for tid in tutors
        for i, part in enumerate(split_for_discord(text, render.MESSAGE_LIMIT))
    ]
    await enqueue(session, messages, now)


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
        (
            await session.execute(
                select(PeerExercise.id).where(
                    PeerExercise.module_id == exercise.module_id,
                    PeerExercise.status != ExerciseStatus.CANCELLED,
                    PeerExercise.aggregation != Method.CORRECTED_ALONE.value,
                )
            )
        ).scalars()
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
            await session.execute(select(PeerResult).where(PeerResult.exercise_id == exercise.id))
        ).scalars()
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
            if on_demand and now < exercise.submission_due_at
            else "Submissions are closed"
        )
        await enqueue(
            session,
            [
                Outgoing(
                    dedupe_key=f"allocated-post:{exercise.id}",
                    exercise_id=exercise.id,
                    kind="channel",
                    text=(
                        f"🔁 **{exercise.title}** (exercise #{exercise.id}): {closing}. "
                        f"{summary.submissions} submissions are with their reviewers: check "
                        f"your direct messages. Reviews are due "
                        f"{render.when(exercise.review_due_at)}."
                    ),
                    channel_id=module.channel_id,
                )
            ],
            now,
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

"""Peer-assessed exercises: what tutors and students ask for, checked against the roster.

Each function runs inside the caller's transaction (one command = one transaction): it checks
the caller's role first, refuses bad input with one sentence (``UserError``) before changing
anything, and enqueues the messages its change causes in the outbox (delivered after commit).
Times come from the bot's clock (``now``), never from the system clock.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.access.permissions import Caller, module_by_code, require_staff, require_student
from bot.calendar.timeparse import CalendarInputError, parse_instant
from bot.db.models import (
    AssignmentStatus,
    Cohort,
    ExerciseStatus,
    Extension,
    ExtensionStatus,
    LedgerSource,
    MarkRelease,
    Module,
    PeerExercise,
    PeerOutbox,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
    Role,
    SubmissionKind,
)
from bot.delivery import Delivery, Missed, reason_of
from bot.errors import NotFound, PermissionDenied, UserError
from bot.gradebook import audit, ledger
from bot.peer import engine, render
from bot.peer.aggregation import Method
from bot.peer.allocation import Assignment, barred
from bot.peer.engine import ACTIVE, AllocationSummary
from bot.peer.outbox import Outgoing, enqueue
from bot.peer.rubric import Criterion, Rubric, RubricError, format_score, parse_rubric

log = logging.getLogger(__name__)

__all__ = [
    "MAX_FILE_BYTES",
    "CreatedExercise",
    "FileInput",
    "Receipt",
    "ReviewForm",
    "ReviewSaved",
    "StatusReport",
    "allocate_now",
    "create_exercise",
    "departed_while_away",
    "exercise_status",
    "member_left",
    "moderate",
    "reassign_reviewer",
    "release",
    "review_form",
    "submit",
    "submit_review",
    "top_up",
]

#: Files above this are refused: the bot re-uploads each file to its reviewers, and Discord
#: caps a bot's upload (10 MiB on an unboosted server); 8 MiB leaves room for the message.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TEXT = 4000
MAX_LINK = 500
MAX_BRIEF = 1500
MAX_TITLE = 100
MAX_COMMENT = 1500
ITEM_TYPE = "exercise"
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def _sentence(exc: Exception) -> UserError:
    return UserError(str(exc))


async def _exercise(session: AsyncSession, cohort: Cohort, exercise_id: int) -> PeerExercise:
    exercise = await session.get(PeerExercise, exercise_id)
    if exercise is not None:
        module = await session.get(Module, exercise.module_id)
        if module is not None and module.cohort_id == cohort.id:
            return exercise
    raise NotFound(
        f"There is no peer exercise #{exercise_id} in this cohort; its number is in the "
        "exercise's announcement."
    )


async def _staff_exercise(
    session: AsyncSession, caller: Caller, cohort: Cohort, exercise_id: int
) -> tuple[PeerExercise, Module]:
    exercise = await _exercise(session, cohort, exercise_id)
    module = await engine.module_of(session, exercise)
    require_staff(caller, module)
    return exercise, module


async def _person(session: AsyncSession, user: ChatUser, what: str) -> Person:
    person = await resolve_person(session, user)
    if person is None:
        raise NotFound(f"{user.display_name} ({what}) is not on this cohort's roster.")
    return person


# --------------------------------------------------------------------------- create


@dataclass(frozen=True)
class CreatedExercise:
    exercise_id: int
    module_code: str
    title: str
    submission_due_at: datetime
    review_due_at: datetime
    k: int
    summary: str


async def create_exercise(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    title: str,
    brief: str,
    submission_deadline: str,
    review_deadline: str,
    k: int = 3,
    rubric: str | None = None,
    double_blind: bool = True,
    reviewers: str = "submitters",
    avoid_same_group: bool = False,
    avoid_repeat_pairs: bool = True,
    method: str = "median",
    late_hours: int = 0,
    late_penalty: int = 0,
    reminder_hours: int = 24,
    agreement_weighting: bool = False,
    now: datetime,
) -> CreatedExercise:
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    title = " ".join(title.split())
    brief = brief.strip()
    if not title or len(title) > MAX_TITLE:
        raise UserError(f"Give the exercise a title of 1 to {MAX_TITLE} characters.")
    if not brief or len(brief) > MAX_BRIEF:
        raise UserError(
            f"Give a brief of 1 to {MAX_BRIEF} characters (link to a longer document if needed)."
        )
    try:
        sub_due = parse_instant(submission_deadline, cohort.timezone, now=now)
        rev_due = parse_instant(review_deadline, cohort.timezone, now=now)
    except CalendarInputError as exc:
        raise _sentence(exc) from exc
    if rev_due <= sub_due:
        raise UserError(
            f"The review deadline ({render.when(rev_due)}) must be after the submission "
            f"deadline ({render.when(sub_due)})."
        )
    if k < 1:
        raise UserError(f"Reviews per submission (k) must be at least 1; you gave {k}.")
    students = await engine.module_people(session, module.id, Role.STUDENT)
    possible = await _max_reviewers(session, module, students, avoid_same_group)
    if k > possible:
        why = " outside their own study group" if avoid_same_group else ""
        raise UserError(
            f"k={k} is more than possible: with {len(students)} students in {module.code}, a "
            f"submission can have at most {possible} reviewers{why}."
        )
    try:
        parsed = parse_rubric(rubric)
    except RubricError as exc:
        raise _sentence(exc) from exc
    if reviewers not in ("submitters", "enrolled"):
        raise UserError("Reviewers must be 'submitters' or 'enrolled'.")
    try:
        chosen = Method(method)
    except ValueError:
        raise UserError(
            "The aggregation method must be one of median, mean or corrected"
            " (corrected_alone: corrected from this exercise's reviews only)."
        ) from None
    _check_late_window(sub_due, rev_due, late_hours)
    if not 0 <= late_penalty <= 100:
        raise UserError(f"The late penalty is a percentage from 0 to 100; you gave {late_penalty}.")
    if not 0 <= reminder_hours <= 168:
        raise UserError(
            f"Reminders go 0 to 168 hours before the review deadline; you gave {reminder_hours}."
        )
    exercise = PeerExercise(
        module_id=module.id,
        title=title,
        brief=brief,
        submission_due_at=sub_due,
        review_due_at=rev_due,
        reviews_per_submission=k,
        rubric=parsed.to_json(),
        double_blind=double_blind,
        reviewers_from_submitters_only=reviewers == "submitters",
        avoid_same_group=avoid_same_group,
        avoid_repeat_pairs=avoid_repeat_pairs,
        late_policy={"hours": late_hours, "penalty": late_penalty},
        aggregation=chosen.value,
        seed=zlib.crc32(f"{module.code}|{title}|{now.isoformat()}".encode()),
        status=ExerciseStatus.OPEN,
        created_by_id=caller.person.id,
        created_at=now,
        reminder_hours=reminder_hours,
        agreement_weighting=agreement_weighting,
    )
    session.add(exercise)
    await session.flush()
    # Enqueued even when the module's channel is not linked yet: the outbox finds the channel
    # when it is known (a channel row without one waits instead of failing).
    parts = render.announcement(
        exercise_id=exercise.id,
        module_code=module.code,
        title=title,
        brief=brief,
        rubric=parsed,
        k=k,
        submission_due_at=sub_due,
        review_due_at=rev_due,
        double_blind=double_blind,
    )
    await enqueue(
        session,
        [
            Outgoing(
                dedupe_key=f"announce:{exercise.id}:{i}",
                exercise_id=exercise.id,
                kind="channel",
                text=part,
                channel_id=module.channel_id,
            )
            for i, part in enumerate(parts)
        ],
        now,
    )
    late = (
        f"late work accepted for {late_hours} h"
        + (f" with a {late_penalty}% penalty" if late_penalty else "")
        if late_hours
        else "no late work"
    )
    summary = (
        f"Created peer exercise **#{exercise.id} {title}** in {module.code}.\n"
        f"Submissions close {render.when(sub_due)}; reviews are due {render.when(rev_due)}.\n"
        f"{k} reviews per submission · {'double-blind' if double_blind else 'single-blind'} · "
        f"reviewers: {reviewers} · {'no same-group pairs · ' if avoid_same_group else ''}"
        f"{'no repeated pairs · ' if avoid_repeat_pairs else ''}mark: {chosen.value} · {late}"
        f"{' · review credit weighted by agreement' if agreement_weighting else ''}.\n"
        f"Reviewers are allocated automatically at the deadline (or now with "
        f"`/exercise allocate exercise:{exercise.id}`)."
    )
    if module.channel_id is None:
        summary += (
            f"\nThe bot has not found {module.code}'s channel yet, so the announcement will be "
            "posted there as soon as it does."
        )
    log.info("peer exercise %s created in %s", exercise.id, module.code)
    return CreatedExercise(exercise.id, module.code, title, sub_due, rev_due, k, summary)


def _check_late_window(sub_due: datetime, rev_due: datetime, late_hours: int) -> None:
    """Late work must come in before reviews are due, or nobody could review it."""
    if late_hours < 0:
        raise UserError(
            f"late_hours is how many hours late work is accepted (0 for none); you gave "
            f"{late_hours}."
        )
    window = rev_due - sub_due
    most = math.ceil(window / timedelta(hours=1)) - 1
    if late_hours <= most:
        return
    if most < 1:
        minutes = int(window / timedelta(minutes=1))
        raise UserError(
            f"Reviews are due only {minutes} minute(s) after the submission deadline, which "
            "leaves no time to review late work: set late_hours:0 or a later review deadline."
        )
    raise UserError(
        f"Late submissions can be accepted for 0 to {most} hours after the deadline (they must "
        f"come in before reviews are due); you gave {late_hours}."
    )


async def _max_reviewers(
    session: AsyncSession, module: Module, students: set[int], avoid_same_group: bool
) -> int:
    """The most reviewers every student's submission could have (never self or group-mates)."""
    if not students:
        return 0
    if not avoid_same_group:
        return len(students) - 1
    groups = await engine.groups_of(session, module.cohort_id, students)
    worst = 0
    for s in students:
        mine = groups.get(s, frozenset())
        mates = sum(1 for o in students if o != s and not mine.isdisjoint(groups.get(o, ())))
        worst = max(worst, mates)
    return len(students) - 1 - worst


# --------------------------------------------------------------------------- submit


@dataclass(frozen=True)
class FileInput:
    """An attached file: its size is checked before ``read`` downloads it."""

    filename: str
    size: int
    content_type: str | None
    read: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class Receipt:
    exercise_id: int
    title: str
    version: int
    late: bool
    text: str


async def submit(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    file: FileInput | None = None,
    link: str | None = None,
    text: str | None = None,
    idempotency_key: str,
    now: datetime,
) -> Receipt:
    exercise = await _exercise(session, cohort, exercise_id)
    module = await engine.module_of(session, exercise)
    require_student(caller, module)
    given = [x for x in (file, (link or "").strip(), (text or "").strip()) if x]
    if len(given) != 1:
        raise UserError("Give exactly one of: a file, a link or text.")
    me = caller.person.id
    earlier = (
        await session.execute(
            select(PeerSubmission).where(PeerSubmission.idempotency_key == idempotency_key)
        )
    ).scalar_one_or_none()
    if earlier is not None:  # a retried interaction: already recorded
        return _receipt(exercise, earlier, None, False, now)
    if file is not None:
        if file.size > MAX_FILE_BYTES:
            raise UserError(
                f"That file is {render.size_text(file.size)}; the limit is "
                f"{render.size_text(MAX_FILE_BYTES)}. Compress it, or share a link instead."
            )
        if file.size == 0:
            raise UserError("That file is empty; attach the file with your work.")
    elif link:
        link = link.strip()
        if len(link) > MAX_LINK or not _URL.match(link):
            raise UserError("A link must be a single web address starting with https://.")
    elif text is not None and len(text.strip()) > MAX_TEXT:
        raise UserError(
            f"Text submissions are limited to {MAX_TEXT} characters; attach a file instead."
        )
    locked = await engine.lock_exercise(session, exercise.id)
    assert locked is not None
    exercise = locked
    if exercise.status in (ExerciseStatus.RELEASED, ExerciseStatus.CANCELLED):
        raise UserError(f"Exercise #{exercise.id} “{exercise.title}” is closed.")
    late = await _lateness(session, exercise, me, now)
    subs = await engine.current_submissions(session, exercise.id)
    previous = subs.get(me)
    with_reviewers = previous is not None and bool(
        (
            await session.execute(
                select(func.count(ReviewAssignment.id)).where(
                    ReviewAssignment.exercise_id == exercise.id,
                    ReviewAssignment.author_id == me,
                )
            )
        ).scalar_one()
    )
    if with_reviewers:
        raise UserError(
            "Your submission is already with its reviewers, so it can no longer be replaced; "
            "ask your tutor if something is wrong."
        )
    if file is not None:
        data = await file.read()
        if len(data) > MAX_FILE_BYTES:
            raise UserError(
                f"That file is {render.size_text(len(data))}; the limit is "
                f"{render.size_text(MAX_FILE_BYTES)}."
            )
        kind, content = SubmissionKind.FILE, file.filename
        size: int | None = len(data)
        filename: str | None = file.filename[:255]
        content_type = (file.content_type or "")[:128] or None
    else:
        data, size, filename, content_type = None, None, None, None
        if link:
            kind, content = SubmissionKind.LINK, link
        else:
            kind, content = SubmissionKind.TEXT, (text or "").strip()
    version = 1
    if previous is not None:
        previous.is_current = False
        version = previous.version + 1
        await session.flush()
    else:
        highest = (
            await session.execute(
                select(func.max(PeerSubmission.version)).where(
                    PeerSubmission.exercise_id == exercise.id, PeerSubmission.person_id == me
                )
            )
        ).scalar_one()
        version = (highest or 0) + 1
    sub = PeerSubmission(
        exercise_id=exercise.id,
        person_id=me,
        version=version,
        kind=kind,
        content=content,
        filename=filename,
        size_bytes=size,
        submitted_at=now,
        late=late,
        is_current=True,
        idempotency_key=idempotency_key,
        data=data,
        content_type=content_type,
    )
    session.add(sub)
    await session.flush()
    placed = None
    if exercise.status == ExerciseStatus.ALLOCATED:
        placed, _ = await engine.allocate_late_author(session, exercise, me, now)
    log.info("peer exercise %s: submission recorded (version %d)", exercise.id, version)
    return _receipt(exercise, sub, placed, previous is not None, now)


async def _lateness(
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


def _receipt(
    exercise: PeerExercise,
    sub: PeerSubmission,
    placed: int | None,
    replaced: bool,
    now: datetime,
) -> Receipt:
    if sub.kind == SubmissionKind.FILE:
        what = f"the file `{sub.filename}` ({render.size_text(sub.size_bytes or 0)})"
    elif sub.kind == SubmissionKind.LINK:
        what = f"the link <{sub.content}>"
    else:
        what = f"your text ({len(sub.content.split())} words)"
    lines = [
        f"✅ Received for exercise #{exercise.id} “{exercise.title}”: {what}, "
        f"at {render.when(sub.submitted_at)}. This is version {sub.version}"
        + (" and replaces your earlier one (kept in the record)." if replaced else ".")
    ]
    if sub.late:
        penalty = int(exercise.late_policy.get("penalty", 0))
        lines.append(
            f"⚠️ It is **late** (the deadline was {render.when(exercise.submission_due_at)})"
            + (f": a {penalty}% penalty applies to its peer mark." if penalty else ".")
        )
    if placed is not None:
        lines.append(
            f"Reviewers were already allocated, so it has been given to {placed} reviewer(s) "
            "with spare capacity."
        )
    elif exercise.status == ExerciseStatus.OPEN:
        lines.append(
            f"You can replace it until reviewers are allocated at "
            f"{render.when(exercise.submission_due_at)}."
        )
    return Receipt(exercise.id, exercise.title, sub.version, sub.late, "\n".join(lines))


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
    module = await engine.module_of(session, exercise)
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
    due = engine.due_of(exercise, assignment)
    if now > due:
        raise UserError(
            f"The deadline for this review passed {render.when(due)}; it can no longer be changed."
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
        raise _sentence(exc) from exc
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
    module = await engine.module_of(session, exercise)
    await ledger.credit(
        session,
        [
            ledger.Credit(
                idempotency_key=f"peer:{exercise.id}:{assignment.id}:review",
                module_id=module.id,
                person_id=caller.person.id,
                source=LedgerSource.PEER_REVIEW_COMPLETED,
                item_type=ITEM_TYPE,
                item_id=exercise.id,
                source_ref=f"peer_exercise:{exercise.id}:review",
                points=Decimal(1),
                occurred_at=now,
            )
        ],
        at=now,
    )
    await session.flush()
    due = engine.due_of(exercise, assignment)
    verb = "updated" if updated else "recorded"
    text = (
        f"✅ Your review of Submission {assignment.anonymous_label} for “{exercise.title}” is "
        f"{verb}: {format_score(total)}/100. You can change it until {render.when(due)}."
    )
    return ReviewSaved(assignment.anonymous_label, total, updated, text)


# --------------------------------------------------------------------------- tutor commands


async def allocate_now(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, exercise_id: int, now: datetime
) -> AllocationSummary:
    exercise, _module = await _staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status != ExerciseStatus.OPEN:
        raise UserError(
            f"Exercise #{exercise.id} was already allocated"
            + (f" {render.when(exercise.allocated_at)}" if exercise.allocated_at else "")
            + "; use `/exercise reassign` to move single reviews."
        )
    subs = await engine.current_submissions(session, exercise.id)
    if not subs:
        raise UserError(
            f"Nobody has submitted to exercise #{exercise.id} yet; nothing to allocate."
        )
    summary = await engine.allocate_exercise(session, exercise.id, now, on_demand=True)
    if summary is None:
        raise UserError(f"Exercise #{exercise.id} is being allocated already.")
    return summary


@dataclass(frozen=True)
class StudentLine:
    name: str
    submitted: str
    reviews_done: int
    reviews_assigned: int
    reviews_pending: int
    received_done: int
    received_assigned: int
    result: str
    flagged: str | None


@dataclass(frozen=True)
class StatusReport:
    exercise_id: int
    title: str
    module_code: str
    state: str
    header: list[str]
    students: list[StudentLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def exercise_status(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, exercise_id: int, now: datetime
) -> StatusReport:
    """Submitted, allocated, reviews done and pending per student, and the current marks."""
    exercise, module = await _staff_exercise(session, caller, cohort, exercise_id)
    students = await engine.module_people(session, module.id, Role.STUDENT)
    subs = await engine.current_submissions(session, exercise.id)
    all_rows = await engine.assignments(session, exercise.id)
    results: dict[int, PeerResult] = {}
    if exercise.status == ExerciseStatus.RELEASED:
        results = await _stored_results(session, exercise.id)
    elif exercise.status == ExerciseStatus.ALLOCATED:
        results, _ = await engine.recompute(session, exercise, now)
    people = students | set(subs) | {r.reviewer_id for r in all_rows}
    names = await engine.names_of(session, people)
    lines: list[StudentLine] = []
    for pid in sorted(people, key=lambda p: names.get(p, "").lower()):
        sub = subs.get(pid)
        if sub is None:
            submitted = "not submitted"
        else:
            submitted = f"v{sub.version}" + (" late" if sub.late else "")
        mine = [r for r in all_rows if r.reviewer_id == pid]
        theirs = [r for r in all_rows if r.author_id == pid and r.status in ACTIVE]
        res = results.get(pid)
        if res is None or (res.n_reviews == 0 and res.moderated is None):
            result_text = "—"
        else:
            result_text = (
                f"mark {format_score(res.final) if res.final is not None else '—'}"
                f" (median {format_score(res.median) if res.median is not None else '—'}, "
                f"corrected {format_score(res.corrected) if res.corrected is not None else '—'}"
                + (", moderated" if res.moderated is not None else "")
                + ")"
            )
        flag = (
            res.flag_reason if res is not None and res.flagged and res.moderated is None else None
        )
        lines.append(
            StudentLine(
                name=names.get(pid, "?"),
                submitted=submitted,
                reviews_done=sum(1 for r in mine if r.status == AssignmentStatus.DONE),
                reviews_assigned=sum(1 for r in mine if r.status in ACTIVE),
                reviews_pending=sum(1 for r in mine if r.status == AssignmentStatus.PENDING),
                received_done=sum(1 for r in theirs if r.status == AssignmentStatus.DONE),
                received_assigned=len(theirs),
                result=result_text,
                flagged=flag,
            )
        )
    done = sum(1 for r in all_rows if r.status == AssignmentStatus.DONE)
    pending = sum(1 for r in all_rows if r.status == AssignmentStatus.PENDING)
    moved = sum(1 for r in all_rows if r.status == AssignmentStatus.REASSIGNED)
    late = sum(1 for s in subs.values() if s.late)
    resub = sum(1 for s in subs.values() if s.version > 1)
    state = str(exercise.status.value)
    header = [
        f"**#{exercise.id} {exercise.title}** ({module.code}) — {state}",
        f"Submissions close {render.when(exercise.submission_due_at)} · reviews due "
        f"{render.when(exercise.review_due_at)} · k={exercise.reviews_per_submission} · "
        f"mark: {exercise.aggregation}",
        f"Submitted: {len(subs)} of {len(students)} students ({late} late, {resub} resubmitted)",
        f"Reviews: {done} done, {pending} pending, {moved} reassigned",
    ]
    extra = [
        engine.due_of(exercise, r)
        for r in all_rows
        if r.status == AssignmentStatus.PENDING
        and engine.due_of(exercise, r) > exercise.review_due_at
    ]
    if extra:
        header.append(
            f"Extra time (late or reassigned work): {len(extra)} review(s) open until "
            f"{render.when(max(extra))}"
        )
    flagged = [ln for ln in lines if ln.flagged]
    if flagged:
        header.append(f"Flagged for moderation: {len(flagged)}")
    return StatusReport(
        exercise_id=exercise.id,
        title=exercise.title,
        module_code=module.code,
        state=state,
        header=header,
        students=lines,
        notes=list(exercise.allocation_notes or []),
    )


async def reassign_reviewer(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    reviewer: ChatUser,
    author: ChatUser | None = None,
    to: ChatUser | None = None,
    now: datetime,
) -> str:
    """Move a reviewer's pending reviews (one, or all) to spare capacity or to a named person."""
    exercise, module = await _staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status != ExerciseStatus.ALLOCATED:
        raise UserError(
            f"Exercise #{exercise.id} is {exercise.status.value}; only allocated "
            "exercises have reviews to move."
        )
    who = await _person(session, reviewer, "reviewer")
    pending = await engine.assignments(session, exercise.id, [AssignmentStatus.PENDING])
    mine = [a for a in pending if a.reviewer_id == who.id]
    if author is not None:
        whose = await _person(session, author, "author")
        mine = [a for a in mine if a.author_id == whose.id]
    if not mine:
        raise UserError(
            f"{who.display_name} has no pending review"
            + (f" of {author.display_name}'s submission" if author is not None else "")
            + f" in exercise #{exercise.id}."
        )
    if to is None:
        outcome = await engine.reassign_reviews(
            session, exercise, mine, reason="tutor", now=now, notify_dropped=True
        )
        detail = await engine.describe_reassignment(session, outcome)
        return f"Moved {len(mine)} review(s) in exercise #{exercise.id}:\n{detail}"
    target = await _person(session, to, "new reviewer")
    students = await engine.module_people(session, module.id, Role.STUDENT)
    if target.id not in students:
        raise UserError(f"{target.display_name} is not a student of {module.code}.")
    if target.id == who.id:
        raise UserError("Choose a different person to take the review.")
    existing = {
        (a.reviewer_id, a.author_id) for a in await engine.assignments(session, exercise.id)
    }
    groups = (
        await engine.groups_of(session, module.cohort_id, [target.id] + [a.author_id for a in mine])
        if exercise.avoid_same_group
        else {}
    )
    refusals = {
        "self": f"{target.display_name} cannot review their own submission.",
        "pair": f"{target.display_name} already has (or had) that submission.",
        "group": (
            f"{target.display_name} is in the author's study group, which this exercise rules out."
        ),
    }
    for a in mine:
        rule = barred(target.id, a.author_id, groups=groups, taken=existing)
        if rule is not None:
            raise UserError(refusals[rule])
    for a in mine:
        a.status = AssignmentStatus.REASSIGNED
        a.end_reason = "tutor"
    await session.flush()
    await engine.cancel_requests(session, [a.id for a in mine])
    await engine.enqueue_withdrawn(session, exercise, module, mine, "tutor", now)
    added = await engine.add_assignments(
        session,
        exercise,
        module,
        [Assignment(target.id, a.author_id) for a in mine],
        origin="manual",
        now=now,
    )
    return (
        f"Moved {len(added)} review(s) in exercise #{exercise.id} from {who.display_name} "
        f"to {target.display_name}."
    )


async def top_up(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    author: ChatUser | None = None,
    now: datetime,
) -> str:
    """Give submissions with fewer than k reviews the missing ones from eligible reviewers
    (every short one, or one author's); say per submission why any stays short."""
    exercise, _module = await _staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status != ExerciseStatus.ALLOCATED:
        raise UserError(
            f"Exercise #{exercise.id} is {exercise.status.value}; only allocated exercises "
            "can be topped up."
        )
    locked = await engine.lock_exercise(session, exercise.id)
    assert locked is not None
    exercise = locked
    k = exercise.reviews_per_submission
    short = await engine.short_authors(session, exercise)
    if author is not None:
        whose = await _person(session, author, "author")
        subs = await engine.current_submissions(session, exercise.id)
        if whose.id not in subs:
            raise UserError(f"{whose.display_name} has no submission in exercise #{exercise.id}.")
        if whose.id not in short:
            raise UserError(f"{whose.display_name}'s submission already has its {k} reviewers.")
        short = {whose.id: short[whose.id]}
    if not short:
        raise UserError(
            f"Every submission in exercise #{exercise.id} already has its {k} reviewers."
        )
    filled = await engine.fill_short(session, exercise, short, origin="topup", now=now)
    names = await engine.names_of(session, short)
    added: dict[int, int] = {}
    for a in filled.added:
        added[a.author_id] = added.get(a.author_id, 0) + 1
    why = {s.author: s.reason for s in filled.shortfalls}
    if filled.added:
        head = (
            f"Topped up exercise #{exercise.id}: {len(filled.added)} review(s) added for "
            f"{len(short)} short submission(s); the new reviewers get their requests by DM."
        )
    else:
        head = (
            f"No review could be added in exercise #{exercise.id}: no eligible reviewer is "
            f"left for its {len(short)} short submission(s)."
        )
    lines = [head]
    for person_id in sorted(short, key=lambda p: names.get(p, "").lower()):
        now_has = short[person_id] + added.get(person_id, 0)
        line = f"• {names.get(person_id, '?')}: {short[person_id]} → {now_has} of {k}"
        if person_id in why:
            line += f" (still short: {why[person_id]})"
        lines.append(line)
    return "\n".join(lines)


async def moderate(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    exercise_id: int,
    student: ChatUser,
    score: float,
    reason: str,
    now: datetime,
) -> str:
    """Override a peer mark (0-100) with a reason; audited, and re-credited if released."""
    exercise, module = await _staff_exercise(session, caller, cohort, exercise_id)
    if not 0 <= score <= 100:
        raise UserError(f"A moderated mark is from 0 to 100; you gave {format_score(score)}.")
    reason = reason.strip()
    if not reason:
        raise UserError("Give a reason for the moderation; it goes into the audit trail.")
    if exercise.status == ExerciseStatus.OPEN:
        raise UserError(
            f"Exercise #{exercise.id} has not been reviewed yet; moderate after allocation."
        )
    person = await _person(session, student, "student")
    subs = await engine.current_submissions(session, exercise.id)
    if person.id not in subs:
        raise UserError(f"{person.display_name} has no submission in exercise #{exercise.id}.")
    if exercise.status == ExerciseStatus.RELEASED:
        results = await _stored_results(session, exercise.id)
    else:
        results, _ = await engine.recompute(session, exercise, now)
    result = results.get(person.id)
    if result is None:
        raise UserError(f"{person.display_name} has no peer result in exercise #{exercise.id}.")
    before = {"final": result.final, "moderated": result.moderated, "median": result.median}
    result.moderated = engine.tenth(Decimal(repr(float(score))))
    result.moderation_reason = reason
    result.moderated_by_id = caller.person.id
    result.final = engine.final_mark(exercise, result)
    await session.flush()
    entry = await audit.record(
        session,
        actor=caller.person,
        action="peer_moderate",
        entity_type="peer_result",
        entity_id=result.id,
        subject_person_id=person.id,
        module_id=module.id,
        before=before,
        after={"final": result.final, "moderated": result.moderated},
        reason=reason,
        at=now,
    )
    text = (
        f"Moderated {person.display_name}'s mark in exercise #{exercise.id}: "
        f"{format_score(before['final']) if before['final'] is not None else '—'} → "
        f"{format_score(result.final or 0)} (audited)."
    )
    if exercise.status == ExerciseStatus.RELEASED and result.final is not None:
        if result.ledger_key is not None:
            await ledger.reverse(session, result.ledger_key, f"moderated: {reason}", at=now)
        result.ledger_key = f"peer:{exercise.id}:{person.id}:score:a{entry.id}"
        await ledger.credit(session, [_score_credit(exercise, module, result, now)], at=now)
        await enqueue(
            session,
            [
                Outgoing(
                    dedupe_key=f"moderated:{entry.id}",
                    exercise_id=exercise.id,
                    kind="feedback",
                    text=render.mark_changed_dm(
                        module_code=module.code, title=exercise.title, mark=result.final
                    ),
                    person_id=person.id,
                )
            ],
            now,
        )
        text += " The student has been told their new mark."
    return text


async def _stored_results(session: AsyncSession, exercise_id: int) -> dict[int, PeerResult]:
    rows = await session.execute(select(PeerResult).where(PeerResult.exercise_id == exercise_id))
    return {r.person_id: r for r in rows.scalars()}


def _score_credit(
    exercise: PeerExercise, module: Module, result: PeerResult, now: datetime
) -> ledger.Credit:
    assert result.ledger_key is not None and result.final is not None
    return ledger.Credit(
        idempotency_key=result.ledger_key,
        module_id=module.id,
        person_id=result.person_id,
        source=LedgerSource.PEER_SCORE_RECEIVED,
        item_type=ITEM_TYPE,
        item_id=exercise.id,
        source_ref=f"peer_exercise:{exercise.id}:score",
        points=result.final,
        occurred_at=now,
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
    exercise, module = await _staff_exercise(session, caller, cohort, exercise_id)
    if exercise.status == ExerciseStatus.RELEASED:
        raise UserError(
            f"Exercise #{exercise.id} was already released "
            f"{render.when(exercise.released_at or now)}."
        )
    if exercise.status != ExerciseStatus.ALLOCATED:
        raise UserError(f"Exercise #{exercise.id} has not been allocated and reviewed yet.")
    pending = await engine.assignments(session, exercise.id, [AssignmentStatus.PENDING])
    latest = max((engine.due_of(exercise, a) for a in pending), default=None)
    if latest is not None and now < latest:
        raise UserError(
            f"{len(pending)} review(s) are still open until {render.when(latest)}; release after "
            "that (or move them with `/exercise reassign`)."
        )
    results, info = await engine.recompute(session, exercise, now)
    open_flags = [r for r in results.values() if r.flagged and r.moderated is None]
    if open_flags and not accept_flagged:
        names = await engine.names_of(session, [r.person_id for r in open_flags])
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
        credits.append(_score_credit(exercise, module, result, now))
    weighted = 0
    if exercise.agreement_weighting:
        done = await engine.assignments(session, exercise.id, [AssignmentStatus.DONE])
        for a in done:
            agreement = info[a.reviewer_id].agreement if a.reviewer_id in info else None
            if agreement is None:
                continue
            key = f"peer:{exercise.id}:{a.id}:review"
            await ledger.reverse(session, key, "weighted by agreement with the consensus", at=now)
            credits.append(
                ledger.Credit(
                    idempotency_key=f"{key}:weighted",
                    module_id=module.id,
                    person_id=a.reviewer_id,
                    source=LedgerSource.PEER_REVIEW_COMPLETED,
                    item_type=ITEM_TYPE,
                    item_id=exercise.id,
                    source_ref=f"peer_exercise:{exercise.id}:review",
                    points=engine.dec(agreement) or Decimal(0),
                    occurred_at=now,
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
    await audit.record(
        session,
        actor=caller.person,
        action="peer_release",
        entity_type="peer_exercise",
        entity_id=exercise.id,
        module_id=module.id,
        after={"released": len(credits), "method": exercise.aggregation},
        reason=None,
        at=now,
    )
    await _enqueue_feedback(session, exercise, module, results, now)
    # Posted once the module channel is known (see create_exercise).
    await enqueue(
        session,
        [
            Outgoing(
                dedupe_key=f"released-post:{exercise.id}",
                exercise_id=exercise.id,
                kind="channel",
                text=(
                    f"📬 Peer feedback for **{exercise.title}** (exercise #{exercise.id}) "
                    "has been released: each author has their reviews and mark by direct "
                    "message. Marks are provisional until the exam board confirms them."
                ),
                channel_id=module.channel_id,
            )
        ],
        now,
    )
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


async def feedback_delivery(session: AsyncSession, exercise_id: int) -> Delivery:
    """Which authors have their released feedback (every part of it) by DM, as sent so far."""
    rows = await session.execute(
        select(Person.id, Person.display_name, PeerOutbox.status, PeerOutbox.last_error)
        .join(Person, Person.id == PeerOutbox.person_id)
        .where(PeerOutbox.exercise_id == exercise_id, PeerOutbox.kind == "feedback")
    )
    names: dict[int, str] = {}
    errors: dict[int, str] = {}
    waiting: set[int] = set()
    for person_id, name, status, error in rows.all():
        names[person_id] = name
        if status == "failed":
            errors.setdefault(person_id, error or "")
        elif status != "sent":
            waiting.add(person_id)
    missed = tuple(Missed(names[p], reason_of(e)) for p, e in sorted(errors.items()))
    pending = len(waiting - set(errors))
    return Delivery(len(names) - len(missed) - pending, missed, pending)


async def _enqueue_feedback(
    session: AsyncSession,
    exercise: PeerExercise,
    module: Module,
    results: dict[int, PeerResult],
    now: datetime,
) -> None:
    rubric = Rubric.from_json(exercise.rubric)
    rows = (
        await session.execute(
            select(ReviewAssignment.author_id, ReviewAssignment.id, PeerReview)
            .join(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
            .where(
                ReviewAssignment.exercise_id == exercise.id,
                ReviewAssignment.status == AssignmentStatus.DONE,
            )
        )
    ).all()
    by_author: dict[int, list[tuple[int, PeerReview]]] = {}
    for author, aid, review in rows:
        by_author.setdefault(author, []).append((aid, review))
    messages: list[Outgoing] = []
    for author, result in sorted(results.items()):
        reviews = by_author.get(author, [])
        # Shown in an order unrelated to who reviewed or when.
        reviews.sort(key=lambda t: zlib.crc32(f"{exercise.seed}:{t[0]}".encode()))
        parts = render.feedback_dm(
            module_code=module.code,
            title=exercise.title,
            rubric=rubric,
            mark=result.final,
            method=render.shown_method(exercise.aggregation, result.median, result.corrected),
            moderated=result.moderated is not None,
            penalty=result.penalty,
            reviews=[
                render.FeedbackReview(
                    {k: float(v) for k, v in rv.scores.items()}, rv.total, rv.comments
                )
                for _, rv in reviews
            ],
        )
        messages.extend(
            Outgoing(
                dedupe_key=f"feedback:{exercise.id}:{author}:{i}",
                exercise_id=exercise.id,
                kind="feedback",
                text=part,
                person_id=author,
            )
            for i, part in enumerate(parts)
        )
    await enqueue(session, messages, now)


# --------------------------------------------------------------------------- departures


async def member_left(session: AsyncSession, platform_user_id: str, now: datetime) -> int:
    """A member left the server: their pending reviews go to spare capacity, tutors are told."""
    person = (
        await session.execute(select(Person).where(Person.platform_user_id == platform_user_id))
    ).scalar_one_or_none()
    if person is None:
        return 0
    rows = (
        await session.execute(
            select(ReviewAssignment)
            .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
            .where(
                ReviewAssignment.reviewer_id == person.id,
                ReviewAssignment.status == AssignmentStatus.PENDING,
                PeerExercise.status == ExerciseStatus.ALLOCATED,
            )
            .order_by(ReviewAssignment.id)
        )
    ).scalars()
    by_exercise: dict[int, list[ReviewAssignment]] = {}
    for a in rows:
        by_exercise.setdefault(a.exercise_id, []).append(a)
    moved = 0
    for exercise_id, dropped in sorted(by_exercise.items()):
        exercise = await engine.lock_exercise(session, exercise_id)
        assert exercise is not None
        still = {
            a.id for a in await engine.assignments(session, exercise_id, [AssignmentStatus.PENDING])
        }
        dropped = [a for a in dropped if a.id in still]
        if not dropped:
            continue
        outcome = await engine.reassign_reviews(session, exercise, dropped, reason="left", now=now)
        moved += len(dropped)
        detail = await engine.describe_reassignment(session, outcome)
        await engine.tell_tutors(
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

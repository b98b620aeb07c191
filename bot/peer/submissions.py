"""Students hand in work: checks, versions, lateness, and late work given to reviewers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, require_student
from bot.db.models import (
    Cohort,
    ExerciseStatus,
    PeerExercise,
    PeerSubmission,
    ReviewAssignment,
    SubmissionKind,
)
from bot.due import due_for, submission_item
from bot.errors import UserError
from bot.peer import render
from bot.peer.allocating import allocate_late_author, lock_exercise
from bot.peer.common import MAX_FILE_BYTES, MAX_LINK, MAX_TEXT, URL, cohort_exercise
from bot.peer.lateness import lateness
from bot.peer.reads import current_submissions, module_of

log = logging.getLogger(__name__)


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
    exercise = await cohort_exercise(session, cohort, exercise_id)
    module = await module_of(session, exercise)
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
        mine = await due_for(session, submission_item(exercise), me)
        return _receipt(exercise, earlier, None, False, mine.due_at)
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
        if len(link) > MAX_LINK or not URL.match(link):
            raise UserError("A link must be a single web address starting with https://.")
    elif text is not None and len(text.strip()) > MAX_TEXT:
        raise UserError(
            f"Text submissions are limited to {MAX_TEXT} characters; attach a file instead."
        )
    locked = await lock_exercise(session, exercise.id)
    assert locked is not None
    exercise = locked
    if exercise.status in (ExerciseStatus.RELEASED, ExerciseStatus.CANCELLED):
        raise UserError(f"Exercise #{exercise.id} “{exercise.title}” is closed.")
    late, deadline = await lateness(session, exercise, me, now)
    subs = await current_submissions(session, exercise.id)
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
        placed, _ = await allocate_late_author(session, exercise, me, now)
    log.info("peer exercise %s: submission recorded (version %d)", exercise.id, version)
    return _receipt(exercise, sub, placed, previous is not None, deadline)


def _receipt(
    exercise: PeerExercise,
    sub: PeerSubmission,
    placed: int | None,
    replaced: bool,
    deadline: datetime,
) -> Receipt:
    """What the student is told; ``deadline`` is theirs (an extension's end, if they have one)."""
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
            f"⚠️ It is **late** (the deadline was {render.when(deadline)})"
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

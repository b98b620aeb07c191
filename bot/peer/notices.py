"""What the peer feature sends on its own, composed and put in the outbox.

Every message a peer step causes (review requests, withdrawals, notes to tutors, feedback) is
built here, so replacing the outbox changes this module and not the rules.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import Button, ButtonStyle
from bot.db.models import (
    AssignmentStatus,
    Module,
    OutboxMessage,
    OutboxState,
    PeerExercise,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
)
from bot.delivery import Delivery, Missed, reason_of
from bot.outbox import FileRef, Message, enqueue
from bot.peer import render
from bot.peer.outbox import FEATURE, SUBMISSION_FILES, key_of
from bot.peer.outbox import cancel_requests as outbox_cancel_requests
from bot.peer.policy import REVIEW_BUTTON, due_of, review_custom_id
from bot.peer.reads import tutors_to_tell
from bot.peer.rubric import Rubric
from bot.text import split_for_discord

# --------------------------------------------------------------------------- review requests


async def send_direct(
    session: AsyncSession,
    exercise_id: int,
    kind: str,
    notes: Iterable[tuple[int, str, str]],
    now: datetime,
) -> None:
    """Direct messages of one kind about an exercise, as (person, dedupe key, text), each
    sent once per dedupe key."""
    await enqueue(
        session,
        [
            Message(
                key=key_of(key),
                feature=FEATURE,
                kind=kind,
                text=text,
                person_id=person_id,
                scope_id=exercise_id,
            )
            for person_id, key, text in notes
        ],
        now,
    )


def review_request(
    exercise: PeerExercise,
    module: Module,
    rubric: Rubric,
    row: ReviewAssignment,
    sub: PeerSubmission,
    author_name: str | None,
) -> list[Message]:
    file_note = None
    files: tuple[FileRef, ...] = ()
    if sub.kind == "file":
        suffix = PurePosixPath(sub.filename or "").suffix[:10]
        shown = f"submission-{row.anonymous_label}{suffix}"
        files = (FileRef(SUBMISSION_FILES, sub.id, shown),)
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
    button = Button(REVIEW_BUTTON, custom_id=review_custom_id(row.id), style=ButtonStyle.PRIMARY)
    last = len(parts) - 1
    return [
        Message(
            key=key_of(f"assign:{row.id}:{i}"),
            feature=FEATURE,
            kind="assignment" if i == last else "assignment-part",
            text=text,
            person_id=row.reviewer_id,
            buttons=(button,) if i == last else (),
            files=files if i == 0 else (),
            scope_id=exercise.id,
            ref_id=row.id,
        )
        for i, text in enumerate(parts)
    ]


async def cancel_requests(session: AsyncSession, assignment_ids: Sequence[int]) -> None:
    """Review requests not yet sent for reviews taken away: never send them."""
    await outbox_cancel_requests(session, assignment_ids)


async def post_to_channel(
    session: AsyncSession,
    exercise: PeerExercise,
    module: Module,
    posts: Iterable[tuple[str, str]],
    now: datetime,
) -> None:
    """Post (dedupe key, text) pairs in the module's channel, each once.

    Enqueued even when the module's channel is not linked yet: the outbox finds the channel
    when it is known (a channel row without one waits instead of failing).
    """
    await enqueue(
        session,
        [
            Message(
                key=key_of(key),
                feature=FEATURE,
                kind="channel",
                text=text,
                channel_id=module.channel_id,
                # Not linked yet: the module's channel as linked when it is sent.
                module_id=module.id if module.channel_id is None else None,
                scope_id=exercise.id,
            )
            for key, text in posts
        ],
        now,
    )


async def tell_mark_changed(
    session: AsyncSession,
    exercise: PeerExercise,
    module: Module,
    person_id: int,
    mark: Decimal,
    audit_id: int,
    now: datetime,
) -> None:
    """A moderated mark after release: its author hears the new mark by DM."""
    text = render.mark_changed_dm(module_code=module.code, title=exercise.title, mark=mark)
    await send_direct(
        session, exercise.id, "feedback", [(person_id, f"moderated:{audit_id}", text)], now
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
    await send_direct(
        session,
        exercise.id,
        "withdrawn",
        (
            (
                a.reviewer_id,
                f"withdrawn:{a.id}",
                render.withdrawn_dm(
                    module_code=module.code,
                    title=exercise.title,
                    label=a.anonymous_label,
                    reason=reason,
                ),
            )
            for a in dropped
        ),
        now,
    )


async def tell_tutors(
    session: AsyncSession, exercise: PeerExercise, key: str, text: str, now: datetime
) -> None:
    """A private note to the exercise's tutor(s); names are fine here, it is staff-only."""
    tutors = await tutors_to_tell(session, exercise)
    parts = split_for_discord(text, render.MESSAGE_LIMIT)
    notes = [
        (tid, f"tutor:{key}:{tid}:{i}", part) for tid in tutors for i, part in enumerate(parts)
    ]
    await send_direct(session, exercise.id, "tutor", notes, now)


# --------------------------------------------------------------------------- feedback


async def feedback_delivery(session: AsyncSession, exercise_id: int) -> Delivery:
    """Which authors have their released feedback (every part of it) by DM, as sent so far."""
    rows = await session.execute(
        select(Person.id, Person.display_name, OutboxMessage.state, OutboxMessage.last_error)
        .join(Person, Person.id == OutboxMessage.person_id)
        .where(
            OutboxMessage.feature == FEATURE,
            OutboxMessage.scope_id == exercise_id,
            OutboxMessage.kind == "feedback",
        )
    )
    names: dict[int, str] = {}
    errors: dict[int, str] = {}
    waiting: set[int] = set()
    for person_id, name, status, error in rows.all():
        names[person_id] = name
        if status == OutboxState.FAILED:
            errors.setdefault(person_id, error or "")
        elif status != OutboxState.SENT:
            waiting.add(person_id)
    missed = tuple(Missed(names[p], reason_of(e)) for p, e in sorted(errors.items()))
    pending = len(waiting - set(errors))
    return Delivery(len(names) - len(missed) - pending, missed, pending)


async def enqueue_feedback(
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
    notes: list[tuple[int, str, str]] = []
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
        notes.extend(
            (author, f"feedback:{exercise.id}:{author}:{i}", part) for i, part in enumerate(parts)
        )
    await send_direct(session, exercise.id, "feedback", notes, now)

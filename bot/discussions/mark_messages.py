"""The DM that tells a student their released (or updated) mark, handed to the outbox.

The due work finds scores whose students are owed a message (``notified_at`` empty on a
released prompt), writes the message from the score as it is now and enqueues it, marking the
score as handed over (``notify_claimed_at``), in one transaction: of two processes only one
hands it over. The outbox sends it once; its hooks record the outcome on the score
(``notified_at``, ``notices_sent``, ``notify_error``), which is what the release reply counts.

Each message's marker names the score and a sequence number (``mark 12 · message 2``) that is
never reused for that score, so a verifying read can only ever find the message it looks for.
A regrade before the message went out cancels it and hands over the new text instead. A score
a process running the old version had claimed when it stopped (claimed, no outbox message) is
handed over with the old marker, to be verified before anything is sent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.db.engine import Database
from bot.db.models import (
    DiscussionPrompt,
    DiscussionScore,
    Module,
    OutboxMessage,
    OutboxState,
)
from bot.delivery import reason_of
from bot.discussions.rubric import Rubric, format_points
from bot.outbox import Message, Outcome

log = logging.getLogger(__name__)

FEATURE = "discussions"
KIND = "mark"
#: Stored as the send error; shown in each platform's words (``grading.score_table``).
NOT_LINKED = "not linked to a chat account yet"


def mark_message(
    *,
    module_code: str,
    prompt_id: int,
    title: str,
    score: str,
    max_score: str,
    explanation: str,
    feedback: str | None,
    updated: bool,
) -> str:
    verb = "was updated" if updated else "is released"
    text = (
        f"Your mark for {module_code} prompt #{prompt_id} “{title}” {verb}: "
        f"**{score}/{max_score}** ({explanation})."
    )
    if feedback:
        text += f"\nFeedback from your tutor: {feedback}"
    text += "\nMarks are provisional until the exam board confirms them."
    return text


def marker(score_id: int, sequence: int) -> str:
    """As the mark messages were always marked (``render.mark_marker``), without the prefix."""
    return f"mark {score_id} · message {sequence}"


def _key(score_id: int, sequence: int) -> str:
    return f"{FEATURE}:{KIND}:{score_id}:{sequence}"


def _sequence(key: str) -> int:
    return int(key.rsplit(":", 1)[1])


async def enqueue_owed(db: Database, now: datetime) -> int:
    """Hand every owed mark message to the outbox; returns how many were handed over."""
    owed = and_(DiscussionScore.notified_at.is_(None), DiscussionScore.notify_claimed_at.is_(None))
    async with db.session() as session:
        ids = list(
            (
                await session.execute(
                    select(DiscussionScore.id)
                    .join(DiscussionPrompt, DiscussionPrompt.id == DiscussionScore.prompt_id)
                    .where(DiscussionPrompt.released_at.is_not(None), owed)
                    .order_by(DiscussionScore.id)
                )
            ).scalars()
        )
        ids += await _interrupted(session)
    handed = 0
    for score_id in ids:
        async with db.session() as session:
            handed += await _hand_over(session, score_id, now)
    return handed


async def _interrupted(session: AsyncSession) -> list[int]:
    """Scores claimed by the old version's sender and never recorded (no outbox message)."""
    has_message = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.feature == FEATURE,
            OutboxMessage.kind == KIND,
            OutboxMessage.ref_id == DiscussionScore.id,
        )
        .exists()
    )
    return list(
        (
            await session.execute(
                select(DiscussionScore.id).where(
                    DiscussionScore.notified_at.is_(None),
                    DiscussionScore.notify_claimed_at.is_not(None),
                    ~has_message,
                )
            )
        ).scalars()
    )


async def _hand_over(session: AsyncSession, score_id: int, now: datetime) -> int:
    row = await session.get(DiscussionScore, score_id)
    if row is None or row.notified_at is not None:
        return 0
    legacy = row.notify_claimed_at is not None
    claimed = await session.execute(
        update(DiscussionScore)
        .where(
            DiscussionScore.id == score_id,
            DiscussionScore.notified_at.is_(None),
            DiscussionScore.notify_claimed_at.is_(row.notify_claimed_at)
            if row.notify_claimed_at is None
            else DiscussionScore.notify_claimed_at == row.notify_claimed_at,
        )
        .values(notify_claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(claimed, "rowcount", 0) or 0) != 1:
        return 0  # another process handed it over
    prompt = await session.get(DiscussionPrompt, row.prompt_id)
    assert prompt is not None
    module = await session.get(Module, prompt.module_id)
    assert module is not None
    # A newer text replaces one not sent yet.
    await outbox.cancel(session, FEATURE, ref_ids=[score_id], kinds=[KIND])
    keys = (
        await session.execute(
            select(OutboxMessage.key).where(
                OutboxMessage.feature == FEATURE,
                OutboxMessage.kind == KIND,
                OutboxMessage.ref_id == score_id,
            )
        )
    ).scalars()
    sequence = max([row.notices_sent, *(_sequence(k) for k in keys)]) + 1
    if legacy:
        # The old sender may have sent this one: same marker, verified before sending.
        sequence = row.notices_sent + 1
    text = mark_message(
        module_code=module.code,
        prompt_id=prompt.id,
        title=prompt.title,
        score=format_points(row.score if row.score is not None else Decimal(0)),
        max_score=format_points(Rubric.from_dict(prompt.rubric).max_score),
        explanation=row.explanation or "",
        feedback=row.feedback,
        updated=row.notices_sent > 0,
    )
    await outbox.enqueue(
        session,
        [
            Message(
                key=_key(score_id, sequence),
                feature=FEATURE,
                kind=KIND,
                text=text,
                person_id=row.person_id,
                marker=marker(score_id, sequence),
                scope_id=prompt.id,
                ref_id=score_id,
                verify=legacy,
            )
        ],
        now,
    )
    return 1


async def _current(session: AsyncSession, o: Outcome) -> bool:
    """Whether this message is the score's newest (an older one's outcome changes nothing
    the student is owed)."""
    keys = (
        await session.execute(
            select(OutboxMessage.key).where(
                OutboxMessage.feature == FEATURE,
                OutboxMessage.kind == KIND,
                OutboxMessage.ref_id == o.ref_id,
                OutboxMessage.state != OutboxState.CANCELLED,
            )
        )
    ).scalars()
    return _sequence(o.key) >= max((_sequence(k) for k in keys), default=0)


async def _sent(session: AsyncSession, o: Outcome) -> None:
    if o.kind != KIND or o.ref_id is None:
        return
    values: dict[str, object] = {"notices_sent": DiscussionScore.notices_sent + 1}
    if await _current(session, o):
        values |= {"notified_at": o.at, "notify_error": None}
    await session.execute(
        update(DiscussionScore).where(DiscussionScore.id == o.ref_id).values(**values)
    )


async def _failed(session: AsyncSession, o: Outcome) -> None:
    if o.kind != KIND or o.ref_id is None or not await _current(session, o):
        return
    error = NOT_LINKED if o.error == outbox.NOT_LINKED else reason_of(o.error or "")
    log.warning("mark message %s: %s", o.ref_id, error)
    await session.execute(
        update(DiscussionScore)
        .where(DiscussionScore.id == o.ref_id)
        .values(notified_at=o.at, notify_error=error)
    )


outbox.register(FEATURE, sent=_sent, failed=_failed)

"""Scheduled work of discussion prompts: open on time, close on time, tell students their mark.

Every step is claimed before anything is sent, by an atomic status change in its own short
transaction (``UPDATE ... WHERE status = old``): of two processes sharing a database only the
one whose update matched acts. The platform call happens outside any transaction, and its
result (message id, thread id, sent time) is recorded in another. A claim left behind by a
process that died mid-way goes stale after ``STALE_CLAIM`` and is taken again, with a warning in
the log.

Whether the first attempt reached the platform is then read from the platform itself: every
message this work posts ends with a marker line (``render``), and before posting a prompt or
its closing summary the bot looks for it in the channel since the prompt opened (or closed), and
before retrying a mark message, in the student's DMs since the earlier attempt. What is found
is recorded, not posted again; when the history cannot be read nothing is posted and the work
waits for the next run. A message may come late, never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import Button, ButtonStyle, ChatError, ChatErrorKind, ChatPort, OutgoingMessage
from bot.db.engine import Database
from bot.db.models import (
    DiscussionPrompt,
    DiscussionScore,
    Enrolment,
    EnrolmentStatus,
    Module,
    Person,
    PromptStatus,
    Role,
)
from bot.discussions import render, scoring
from bot.discussions.rubric import Rubric, format_points

log = logging.getLogger(__name__)

__all__ = ["ANSWER_PREFIX", "STALE_CLAIM", "DueReport", "run_due"]

#: A claim older than this belongs to a process that died (the calendar engine's lease too);
#: the retry reads the channel first and posts only what is missing, so it can be short.
STALE_CLAIM = timedelta(minutes=2)
#: How far before the earliest moment a message could have been posted its search starts (the
#: host's clock and the platform's may differ a little).
CLOCK_MARGIN = timedelta(minutes=2)
ANSWER_PREFIX = "cb:discussions:answer:"


#: Asked before a prompt is closed: has its thread been read whole (see ``run_due``)?
ThreadRead = Callable[[str], Awaitable[bool]]


@dataclass
class DueReport:
    opened: dict[str, int] = field(default_factory=dict)
    closed: list[int] = field(default_factory=list)
    #: Prompts past their close left open because their thread is not read whole yet.
    deferred: list[int] = field(default_factory=list)
    #: Prompts that cannot open because their module's channel is missing (tutor told once).
    blocked: list[int] = field(default_factory=list)
    notified: int = 0
    failed: list[str] = field(default_factory=list)


async def run_due(
    db: Database,
    chat: ChatPort,
    *,
    now: datetime,
    thread_read: ThreadRead | None = None,
    ledger_lock: asyncio.Lock | None = None,
) -> DueReport:
    """Do whatever is due at ``now``; safe to run in several processes at once.

    ``thread_read(thread_id)`` says whether every message of a thread is recorded: a prompt
    is closed (summary posted, posts credited) only then, so what was posted while the bot was
    down is counted before the summary and the credits. ``ledger_lock`` is held while the
    close credits the ledger (the recorder credits late posts under it too).
    """
    report = DueReport()
    await _open_due(db, chat, now, report)
    await _close_due(db, chat, now, report, thread_read, ledger_lock)
    await _notify_released(db, chat, now, report)
    return report


async def next_due(db: Database) -> datetime | None:
    """The earliest opening or closing still to do, so the scheduler can be woken for it."""
    async with db.session() as session:
        opening = (
            await session.execute(
                select(func.min(DiscussionPrompt.opens_at)).where(
                    DiscussionPrompt.status == PromptStatus.SCHEDULED,
                    DiscussionPrompt.blocked_reason.is_(None),
                )
            )
        ).scalar_one_or_none()
        closing = (
            await session.execute(
                select(func.min(DiscussionPrompt.closes_at)).where(
                    DiscussionPrompt.status == PromptStatus.OPEN
                )
            )
        ).scalar_one_or_none()
    times = [t for t in (opening, closing) if t is not None]
    return min(times) if times else None


def _stale(now: datetime) -> datetime:
    return now - STALE_CLAIM


async def _claim_prompt(
    session: AsyncSession,
    prompt_id: int,
    ready: object,
    stale_status: PromptStatus,
    new_status: PromptStatus,
    now: datetime,
) -> bool:
    result = await session.execute(
        update(DiscussionPrompt)
        .where(
            DiscussionPrompt.id == prompt_id,
            or_(
                ready,  # type: ignore[arg-type]
                and_(
                    DiscussionPrompt.status == stale_status,
                    DiscussionPrompt.claimed_at < _stale(now),
                ),
            ),
        )
        .values(status=new_status, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def _set_prompt(db: Database, prompt_id: int, **values: object) -> None:
    async with db.session() as session:
        await session.execute(
            update(DiscussionPrompt)
            .where(DiscussionPrompt.id == prompt_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


# --------------------------------------------------------------------------- opening


async def _open_due(db: Database, chat: ChatPort, now: datetime, report: DueReport) -> None:
    def ready() -> object:
        return and_(
            DiscussionPrompt.status == PromptStatus.SCHEDULED, DiscussionPrompt.opens_at <= now
        )

    async with db.session() as session:
        candidates = (
            await session.execute(
                select(DiscussionPrompt.id, DiscussionPrompt.status)
                .where(
                    or_(
                        ready(),  # type: ignore[arg-type]
                        and_(
                            DiscussionPrompt.status == PromptStatus.OPENING,
                            DiscussionPrompt.claimed_at < _stale(now),
                        ),
                    )
                )
                .order_by(DiscussionPrompt.opens_at)
            )
        ).all()
    for prompt_id, status in candidates:
        async with db.session() as session:
            prompt = await session.get(DiscussionPrompt, prompt_id)
            assert prompt is not None
            module = await session.get(Module, prompt.module_id)
            assert module is not None
            if prompt.blocked_reason is not None and module.channel_id is None:
                continue  # still no channel: the tutor was told; nothing to try
            if not await _claim_prompt(
                session, prompt_id, ready(), PromptStatus.OPENING, PromptStatus.OPENING, now
            ):
                continue
            await session.refresh(prompt)
            staff = await _staff_ids(session, module.id)
        if status == PromptStatus.OPENING:
            log.warning(
                "prompt %s: a previous opening attempt did not finish; trying again "
                "(its post may appear twice)",
                prompt_id,
            )
        try:
            thread_id = await _post_prompt(db, chat, prompt, module, staff)
        except ChatError as exc:
            if exc.kind == ChatErrorKind.NOT_FOUND and prompt.thread_id is None:
                # The channel is gone (deleted on the server): blocked, not an error each run.
                thread_id = None
            else:
                log.error("prompt %s could not be opened: %s", prompt_id, exc)
                report.failed.append(f"open #{prompt_id}: {exc}")
                await _set_prompt(db, prompt_id, status=PromptStatus.SCHEDULED, claimed_at=None)
                continue
        if thread_id is None:
            await _block(db, chat, prompt, module, report)
            continue
        await _set_prompt(
            db, prompt_id, status=PromptStatus.OPEN, claimed_at=None, blocked_reason=None
        )
        report.opened[thread_id] = prompt_id
        log.info("prompt %s opened in thread %s", prompt_id, thread_id)


def _missing_channel(module: Module) -> str:
    name = module.channel_name or module.code.lower()
    return f"the channel #{name} of {module.code} is missing on the server"


async def _block(
    db: Database, chat: ChatPort, prompt: DiscussionPrompt, module: Module, report: DueReport
) -> None:
    """The prompt cannot open for want of a channel: mark it so and tell its creator, once.

    It stays scheduled and opens as soon as the module has a channel again.
    """
    reason = _missing_channel(module)
    first = prompt.blocked_reason is None
    await _set_prompt(
        db, prompt.id, status=PromptStatus.SCHEDULED, claimed_at=None, blocked_reason=reason
    )
    report.blocked.append(prompt.id)
    if not first:
        return
    log.warning("prompt %s cannot open: %s; its creator is told", prompt.id, reason)
    async with db.session() as session:
        creator = (
            await session.get(Person, prompt.created_by_id)
            if prompt.created_by_id is not None
            else None
        )
        user_id = creator.platform_user_id if creator is not None else None
    if user_id is None:
        log.warning("prompt %s: its creator cannot be told (no Discord account linked)", prompt.id)
        return
    text = (
        f"Your discussion prompt #{prompt.id} “{prompt.title}” could not be posted: {reason}. "
        f"Create the channel (or fix the module's channel in the programme file); the prompt "
        f"is posted as soon as the bot sees it. `/prompt list module:{module.code}` shows it "
        "as blocked until then."
    )
    try:
        await chat.dm(str(user_id), OutgoingMessage(text))
    except ChatError as exc:
        log.warning("prompt %s: its creator could not be told by DM: %s", prompt.id, exc)


async def _posted(
    chat: ChatPort, channel_id: str, since: datetime, markers: set[str]
) -> dict[str, str]:
    """Which of these marked messages the bot already posted there: marker -> message id."""
    found: dict[str, str] = {}
    async for message in chat.history(channel_id, since=since - CLOCK_MARGIN):
        if message.author_is_bot:
            mark = render.marker_of(message.content)
            if mark in markers and mark not in found:
                found[mark] = message.id
    return found


async def _staff_ids(session: AsyncSession, module_id: int) -> list[str]:
    rows = await session.execute(
        select(Person.platform_user_id)
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(
            Enrolment.module_id == module_id,
            Enrolment.role.in_([Role.TUTOR, Role.ADMIN]),
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Person.platform_user_id.is_not(None),
        )
    )
    return [str(uid) for uid in rows.scalars().all()]


async def _post_prompt(
    db: Database, chat: ChatPort, prompt: DiscussionPrompt, module: Module, staff: list[str]
) -> str | None:
    """Post the prompt and make its thread, saving each id as soon as it exists."""
    if module.channel_id is None:
        return None  # blocked (``_block``): the caller marks it and tells the tutor once
    channel_id = module.channel_id
    anchor = prompt.message_id
    if anchor is None:
        parts = render.prompt_messages(
            prompt_id=prompt.id,
            module_code=module.code,
            module_title=module.title,
            title=prompt.title,
            body=prompt.body,
            closes_at=prompt.closes_at,
            rubric=Rubric.from_dict(prompt.rubric),
            private_answers=prompt.private_answers,
        )
        markers = [render.marker_of(text) or "" for text in parts]
        found = await _posted(chat, channel_id, prompt.opens_at, set(markers))
        if found:
            log.warning("prompt %s: %d of its messages were already posted", prompt.id, len(found))
        for index, text in enumerate(parts):
            if markers[index] in found:
                anchor = found[markers[index]]
                continue
            last = index == len(parts) - 1
            buttons = (
                (Button("Answer", f"{ANSWER_PREFIX}{prompt.id}", ButtonStyle.PRIMARY),)
                if prompt.private_answers and last
                else ()
            )
            posted = await chat.post(
                channel_id,
                OutgoingMessage(
                    text, buttons=buttons, mention_role_id=module.role_id if index == 0 else None
                ),
            )
            anchor = posted.message_id
        await _set_prompt(db, prompt.id, message_id=anchor, channel_id=channel_id)
    thread_id = prompt.thread_id
    if thread_id is None:
        name = prompt.title[: render.TITLE_MAX_CHARS]
        if prompt.private_answers:
            thread_id = await chat.create_thread(channel_id, name, private=True)
        else:
            thread_id = await chat.create_thread(channel_id, name, from_message_id=anchor)
        await _set_prompt(db, prompt.id, thread_id=thread_id)
        if prompt.private_answers:
            for user_id in staff:
                try:
                    await chat.add_thread_member(thread_id, user_id)
                except ChatError as exc:
                    log.warning("cannot add staff %s to thread %s: %s", user_id, thread_id, exc)
    return thread_id


# --------------------------------------------------------------------------- closing


async def _close_due(
    db: Database,
    chat: ChatPort,
    now: datetime,
    report: DueReport,
    thread_read: ThreadRead | None,
    ledger_lock: asyncio.Lock | None,
) -> None:
    def ready() -> object:
        return and_(DiscussionPrompt.status == PromptStatus.OPEN, DiscussionPrompt.closes_at <= now)

    async with db.session() as session:
        candidates = (
            await session.execute(
                select(
                    DiscussionPrompt.id, DiscussionPrompt.status, DiscussionPrompt.thread_id
                ).where(
                    or_(
                        ready(),  # type: ignore[arg-type]
                        and_(
                            DiscussionPrompt.status == PromptStatus.CLOSING,
                            DiscussionPrompt.claimed_at < _stale(now),
                        ),
                    )
                )
            )
        ).all()
    for prompt_id, status, thread_id in candidates:
        if thread_read is not None and thread_id is not None and not await thread_read(thread_id):
            # Posts made while the bot was down may be unread: they count before the close.
            report.deferred.append(prompt_id)
            continue
        async with db.session() as session:
            if not await _claim_prompt(
                session, prompt_id, ready(), PromptStatus.CLOSING, PromptStatus.CLOSING, now
            ):
                continue
            prompt = await session.get(DiscussionPrompt, prompt_id)
            assert prompt is not None
            evidence = await scoring.load_evidence(session, prompt)
            scores = scoring.score_all(evidence, with_quality=False)
        if status == PromptStatus.CLOSING:
            log.warning(
                "prompt %s: a previous closing attempt did not finish; trying again", prompt_id
            )
        summary = render.closing_summary(
            prompt_id=prompt_id,
            title=prompt.title,
            initial_posts=sum(1 for s in scores.values() if s.initial_met),
            students=sum(1 for s in evidence.students.values() if s.active),
            replies=sum(s.replies_credited for s in scores.values()),
            closed_at=prompt.closes_at,
        )
        try:
            if prompt.thread_id is not None:
                await chat.set_thread_state(prompt.thread_id, locked=True)
                mark = render.closing_marker(prompt_id)
                if not await _posted(chat, prompt.thread_id, prompt.closes_at, {mark}):
                    await chat.post(prompt.thread_id, OutgoingMessage(summary))
        except ChatError as exc:
            log.error("prompt %s could not be closed: %s", prompt_id, exc)
            report.failed.append(f"close #{prompt_id}: {exc}")
            await _set_prompt(db, prompt_id, status=PromptStatus.OPEN, claimed_at=None)
            continue
        async with ledger_lock or contextlib.nullcontext(), db.session() as session:
            prompt = await session.get(DiscussionPrompt, prompt_id)
            assert prompt is not None
            prompt.status = PromptStatus.CLOSED
            prompt.claimed_at = None
            await session.flush()
            await scoring.follow_evidence(session, prompt_id, now=now)
        report.closed.append(prompt_id)
        log.info("prompt %s closed", prompt_id)


# --------------------------------------------------------------------------- release DMs


async def _dm_arrived(chat: ChatPort, user_id: str, since: datetime, mark: str) -> bool:
    """Whether an earlier attempt at this mark message reached the student's DMs."""
    log.warning("mark message %s: retrying an earlier attempt; checking the DMs first", mark)
    return bool(await _posted(chat, await chat.dm_channel_id(user_id), since, {mark}))


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


async def _notify_released(db: Database, chat: ChatPort, now: datetime, report: DueReport) -> None:
    waiting = and_(
        DiscussionScore.notified_at.is_(None),
        or_(
            DiscussionScore.notify_claimed_at.is_(None),
            DiscussionScore.notify_claimed_at < _stale(now),
        ),
    )
    async with db.session() as session:
        ids = (
            await session.execute(
                select(DiscussionScore.id, DiscussionScore.notify_claimed_at)
                .join(DiscussionPrompt, DiscussionPrompt.id == DiscussionScore.prompt_id)
                .where(DiscussionPrompt.released_at.is_not(None), waiting)
                .order_by(DiscussionScore.id)
            )
        ).all()
    for score_id, previous_claim in ids:
        async with db.session() as session:
            claimed = await session.execute(
                update(DiscussionScore)
                .where(DiscussionScore.id == score_id, waiting)
                .values(notify_claimed_at=now)
                .execution_options(synchronize_session=False)
            )
            if int(getattr(claimed, "rowcount", 0) or 0) != 1:
                continue
            row = await session.get(DiscussionScore, score_id)
            assert row is not None
            prompt = await session.get(DiscussionPrompt, row.prompt_id)
            person = await session.get(Person, row.person_id)
            assert prompt is not None and person is not None
            module = await session.get(Module, prompt.module_id)
            assert module is not None and prompt.released_at is not None
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
            mark = render.mark_marker(score_id, row.notices_sent + 1)
            text = f"{text}\n{mark}"
            user_id = person.platform_user_id
        error: str | None = None
        if user_id is None:
            error = "not linked to a Discord account yet"
        else:
            try:
                if previous_claim is not None and await _dm_arrived(
                    chat, user_id, previous_claim, mark
                ):
                    log.warning("mark message %s: an earlier attempt did arrive", score_id)
                else:
                    await chat.dm(user_id, OutgoingMessage(text))
            except ChatError as exc:
                if exc.retryable:
                    log.warning("mark message %s not sent, will retry: %s", score_id, exc)
                    async with db.session() as session:
                        await session.execute(
                            update(DiscussionScore)
                            .where(DiscussionScore.id == score_id)
                            # stale at once: the next run retries, after looking for this one
                            .values(notify_claimed_at=now - STALE_CLAIM)
                        )
                    continue
                error = exc.kind.value
        async with db.session() as session:
            await session.execute(
                update(DiscussionScore)
                .where(DiscussionScore.id == score_id)
                .values(
                    notified_at=now,
                    notify_error=error,
                    notices_sent=DiscussionScore.notices_sent + (1 if error is None else 0),
                )
            )
        if error is None:
            report.notified += 1
        else:
            report.failed.append(f"mark message {score_id}: {error}")

"""Scheduled work of discussion prompts: open on time, close on time, tell students their mark.

Every step is claimed before anything is sent, by an atomic status change in its own short
transaction (``UPDATE ... WHERE status = old``): of two processes sharing a database only the
one whose update matched acts. The platform call happens outside any transaction, and its
result (message id, thread id, sent time) is recorded in another. A claim left behind by a
process that died mid-way goes stale after ``STALE_CLAIM`` and is taken again, with a warning in
the log.

Whether the first attempt reached the platform is then read from the platform itself: every
message this work posts ends with a marker line (``render``), and before posting a prompt the
bot looks for it in the channel since the prompt opened. What is found is recorded, not posted
again; when the history cannot be read nothing is posted and the work waits for the next run.
A message may come late, never twice. The closing summary is enqueued in the outbox with the
close, and the students' mark messages are handed to it (``mark_messages``): the outbox sends
them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.chat import (
    Button,
    ButtonStyle,
    ChatError,
    ChatErrorKind,
    ChatPort,
    marker_of,
    to_micros,
)
from bot.db.engine import Database
from bot.db.models import (
    DiscussionPrompt,
    Enrolment,
    EnrolmentStatus,
    Module,
    OutboxState,
    Person,
    PromptStatus,
    Role,
)
from bot.db.ops import earliest
from bot.delivery import reason_of
from bot.discussions import mark_messages, render, scoring
from bot.discussions.rubric import Rubric
from bot.outbox import Message
from bot.outbox import store as outbox_store

log = logging.getLogger(__name__)

__all__ = ["ANSWER_PREFIX", "STALE_CLAIM", "DueReport", "run_due"]

#: A claim older than this belongs to a process that died (the calendar engine's lease too);
#: the retry reads the channel first and posts only what is missing, so it can be short.
STALE_CLAIM = timedelta(minutes=2)
ANSWER_PREFIX = "cb:discussions:answer:"


#: Asked before a prompt is closed: has its thread been read whole (see ``run_due``)?
ThreadRead = Callable[[str], Awaitable[bool]]
#: Has the outbox send what is owed now (the application's sender, or one for this run).
Send = Callable[[], Awaitable[None]]


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
    sender: outbox.Outbox | None = None,
    watch: Callable[[Mapping[str, int]], object] | None = None,
) -> DueReport:
    """Do whatever is due at ``now``; safe to run in several processes at once.

    ``thread_read(thread_id)`` says whether every message of a thread is recorded: a prompt
    is closed (summary posted, posts credited) only then, so what was posted while the bot was
    down is counted before the summary and the credits. ``ledger_lock`` is held while the
    close credits the ledger (the recorder credits late posts under it too). ``watch`` is
    told each new thread (thread id -> prompt id) before its prompt is marked open, so a
    student who answers the moment it opens is recorded live, edits and deletions included.
    """
    report = DueReport()

    async def send() -> None:
        await (sender.run(now) if sender is not None else outbox.deliver(db, chat, now))

    await _open_due(db, chat, now, report, send, watch)
    await _close_due(db, chat, now, report, thread_read, ledger_lock)
    if report.closed:
        await send()  # the summaries, now
    await _notify_released(db, now, report)
    return report


async def next_due(db: Database) -> datetime | None:
    """The earliest opening or closing still to do, so the scheduler can be woken for it."""
    async with db.session() as session:
        return await earliest(
            session,
            select(func.min(DiscussionPrompt.opens_at)).where(
                DiscussionPrompt.status == PromptStatus.SCHEDULED,
                DiscussionPrompt.blocked_reason.is_(None),
            ),
            select(func.min(DiscussionPrompt.closes_at)).where(
                DiscussionPrompt.status == PromptStatus.OPEN
            ),
        )


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


async def _open_due(
    db: Database,
    chat: ChatPort,
    now: datetime,
    report: DueReport,
    send: Send,
    watch: Callable[[Mapping[str, int]], object] | None = None,
) -> None:
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
                "(what it posted is found, not posted twice)",
                prompt_id,
            )
        try:
            thread_id = await _post_prompt(
                db,
                chat,
                prompt,
                module,
                staff,
                send=send,
                now=now,
                retry=status == PromptStatus.OPENING,
            )
        except _Waiting:
            log.info("prompt %s: its posts are still being sent; it opens once they are", prompt_id)
            await _set_prompt(db, prompt_id, status=PromptStatus.SCHEDULED, claimed_at=None)
            continue
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
        if watch is not None:
            watch({thread_id: prompt_id})
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
    """The prompt cannot open for want of a channel: mark it so and tell its creator, once
    (a DM through the outbox, enqueued with the mark).

    It stays scheduled and opens as soon as the module has a channel again.
    """
    reason = _missing_channel(module)
    first = prompt.blocked_reason is None
    report.blocked.append(prompt.id)
    text = (
        f"Your discussion prompt #{prompt.id} “{prompt.title}” could not be posted: {reason}. "
        f"Create the channel (or fix the module's channel in the programme file); the prompt "
        f"is posted as soon as the bot sees it. `/prompt list module:{module.code}` shows it "
        "as blocked until then."
    )
    async with db.session() as session:
        await session.execute(
            update(DiscussionPrompt)
            .where(DiscussionPrompt.id == prompt.id)
            .values(status=PromptStatus.SCHEDULED, claimed_at=None, blocked_reason=reason)
            .execution_options(synchronize_session=False)
        )
        if not first:
            return
        log.warning("prompt %s cannot open: %s; its creator is told", prompt.id, reason)
        if prompt.created_by_id is None:
            return
        at = prompt.claimed_at or prompt.opens_at
        await outbox.enqueue(
            session,
            [
                Message(
                    key=f"discussions:blocked:{prompt.id}:{to_micros(at)}",
                    feature="discussions",
                    kind="blocked",
                    text=text,
                    person_id=prompt.created_by_id,
                    scope_id=prompt.id,
                )
            ],
            at,
        )


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
    db: Database,
    chat: ChatPort,
    prompt: DiscussionPrompt,
    module: Module,
    staff: list[str],
    *,
    send: Send,
    now: datetime,
    retry: bool,
) -> str | None:
    """Post the prompt (through the outbox, sent now) and make its thread from its last part,
    saving each id as soon as it exists."""
    if module.channel_id is None:
        return None  # blocked (``_block``): the caller marks it and tells the tutor once
    channel_id = module.channel_id
    anchor = prompt.message_id
    if anchor is None:
        parts = _prompt_parts(prompt, module, channel_id, retry)
        keys = [m.key for m in parts]
        async with db.session() as session:
            # Parts refused by an earlier attempt (a permission hiccup) go again: this job's
            # own schedule retries an opening. A deleted channel is not retried (the prompt is
            # blocked; a new channel has new keys).
            earlier = await outbox_store.results(session, keys)
            await outbox_store.retry_now(
                session,
                [
                    k
                    for k, (state, _, error) in earlier.items()
                    if state is OutboxState.FAILED
                    and reason_of(error or "") != ChatErrorKind.NOT_FOUND.value
                ],
            )
            await outbox.enqueue(session, parts, now)
        await send()
        async with db.session() as session:
            sent = await outbox_store.results(session, keys)
        for key in keys:
            state, message_id, error = sent.get(key, (OutboxState.PENDING, None, None))
            if state is OutboxState.SENT and message_id is not None:
                anchor = message_id
                continue
            if state is OutboxState.FAILED:
                reason = reason_of(error or "")
                kinds = {k.value: k for k in ChatErrorKind}
                raise ChatError(kinds.get(reason, ChatErrorKind.UNAVAILABLE), error or "refused")
            raise _Waiting
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


class _Waiting(Exception):
    """The prompt's posts are not all sent yet (a retry waits for its backoff)."""


def _prompt_parts(
    prompt: DiscussionPrompt, module: Module, channel_id: str, retry: bool
) -> list[Message]:
    """The prompt's posts as outbox messages, keyed by the channel (a recreated channel gets
    the prompt afresh); a retried opening looks for each in the channel first."""
    texts = render.prompt_messages(
        prompt_id=prompt.id,
        module_code=module.code,
        module_title=module.title,
        title=prompt.title,
        body=prompt.body,
        closes_at=prompt.closes_at,
        rubric=Rubric.from_dict(prompt.rubric),
        private_answers=prompt.private_answers,
    )
    out: list[Message] = []
    for index, part in enumerate(texts):
        text, _, mark = part.rpartition("\n")
        last = index == len(texts) - 1
        out.append(
            Message(
                key=f"discussions:prompt:{prompt.id}:{channel_id}:{index}",
                feature="discussions",
                kind="prompt",
                text=text,
                channel_id=channel_id,
                buttons=(
                    (Button("Answer", f"{ANSWER_PREFIX}{prompt.id}", ButtonStyle.PRIMARY),)
                    if prompt.private_answers and last
                    else ()
                ),
                mention_role_id=module.role_id if index == 0 else None,
                marker=marker_of(mark),
                scope_id=prompt.id,
                ref_id=index,
                verify=retry,
            )
        )
    return out


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
            if prompt.thread_id is not None:
                # Posted by the outbox once this commits; a close an older version posted
                # before dying is found by its marker instead (``verify``).
                retry = status == PromptStatus.CLOSING
                await outbox.enqueue(
                    session, [_summary(prompt_id, prompt.thread_id, summary, retry)], now
                )
        report.closed.append(prompt_id)
        log.info("prompt %s closed", prompt_id)


def _summary(prompt_id: int, thread_id: str, summary: str, retry: bool) -> Message:
    """The closing summary as an outbox message (its marker is the one it always carried);
    a retried close looks for it in the thread first."""
    text, _, mark = summary.rpartition("\n")
    return Message(
        key=f"discussions:summary:{prompt_id}",
        feature="discussions",
        kind="summary",
        text=text,
        channel_id=thread_id,
        marker=marker_of(mark),
        scope_id=prompt_id,
        verify=retry,
    )


# --------------------------------------------------------------------------- release DMs


async def _notify_released(db: Database, now: datetime, report: DueReport) -> None:
    """Mark messages owed go to the outbox (``mark_messages``), which sends them."""
    report.notified += await mark_messages.enqueue_owed(db, now)

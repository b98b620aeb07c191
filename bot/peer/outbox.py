"""Messages the peer service owes people: written with the decision, delivered once.

Services enqueue a row in the same transaction that decided the message (an allocation, a
reminder, a release), so a rolled-back command owes nothing and a committed one cannot forget.
``deliver`` then claims each row with an atomic status change in its own short transaction,
sends it through the chat port with no transaction open, and records the outcome in another:
two processes never send the same row. Each message ends with a marker line naming its row
(``-# cohortbot peer 12``, nothing about the people), so a row left claimed by a process that
died mid-send is, after ``STALE_CLAIM``, taken over atomically and verified against the target's
history (as the calendar notice engine does): found, it is recorded as sent; not found, it is
sent now; history unreadable, it stays claimed for a later run. Late, never lost, never twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import Button, ButtonStyle, ChatError, ChatPort, FileAttachment, OutgoingMessage
from bot.db.engine import Database
from bot.db.models import (
    Module,
    PeerExercise,
    PeerOutbox,
    PeerSubmission,
    Person,
    ReviewAssignment,
)
from bot.db.ops import insert_ignore

log = logging.getLogger(__name__)

PENDING, CLAIMED, SENT, FAILED = "pending", "claimed", "sent", "failed"
MAX_ATTEMPTS = 5
#: A claim older than this belongs to a process that died while sending (the calendar engine's
#: lease). A live sender stops starting sends at half of it, so it never overlaps a takeover.
STALE_CLAIM = timedelta(minutes=2)
_BATCH = 200
_ROUNDS = 50
#: Rows claimed (and recorded) per transaction.
_CLAIM = 25
_WORKER = f"{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to enqueue: to a person (DM) or a channel."""

    dedupe_key: str
    exercise_id: int
    kind: str
    text: str
    person_id: int | None = None
    channel_id: str | None = None
    assignment_id: int | None = None
    button: tuple[str, str] | None = None  # (label, custom_id)
    file: tuple[int, str] | None = None  # (submission id, filename shown)


async def enqueue(session: AsyncSession, messages: Sequence[Outgoing], now: datetime) -> int:
    """Add messages; a dedupe key already present is skipped (replays enqueue nothing)."""
    rows: list[dict[str, Any]] = []
    for m in messages:
        payload: dict[str, Any] = {"text": m.text}
        if m.button is not None:
            payload["button"] = {"label": m.button[0], "custom_id": m.button[1]}
        if m.file is not None:
            payload["file"] = {"submission_id": m.file[0], "filename": m.file[1]}
        rows.append(
            {
                "dedupe_key": m.dedupe_key,
                "exercise_id": m.exercise_id,
                "kind": m.kind,
                "person_id": m.person_id,
                "channel_id": m.channel_id,
                "assignment_id": m.assignment_id,
                "payload": payload,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
            }
        )
    return await insert_ignore(session, PeerOutbox, rows, conflict=["dedupe_key"])


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: int
    failed: int
    retrying: int
    undeliverable_assignments: tuple[int, ...]


#: Called (in a fresh transaction) for a review request that can never be delivered, so the
#: review goes to someone else.
Undeliverable = Callable[[AsyncSession, int, datetime], Awaitable[None]]


async def deliver(
    db: Database,
    chat: ChatPort,
    now: datetime,
    *,
    on_undeliverable: Undeliverable | None = None,
) -> Delivery:
    """Send every due pending message once, in the order they were decided."""
    await _recover_stale_claims(db, chat, now)
    sent = failed = retrying = 0
    undeliverable: list[int] = []
    # A cursor, not a "seen" set: a row that waits (a channel not linked yet) must not keep
    # a batch's place from the rows behind it.
    after = 0
    # Rounds: what a failure enqueues (a reassigned review, the tutor's note) goes out too.
    for _ in range(_ROUNDS):
        async with db.session() as s:
            ids = list(
                (
                    await s.execute(
                        select(PeerOutbox.id)
                        .where(
                            PeerOutbox.id > after,
                            PeerOutbox.status == PENDING,
                            or_(PeerOutbox.not_before.is_(None), PeerOutbox.not_before <= now),
                        )
                        .order_by(PeerOutbox.id)
                        .limit(_BATCH)
                    )
                ).scalars()
            )
        if not ids:
            break
        after = ids[-1]
        counts = await _deliver_rows(db, chat, now, ids, on_undeliverable, undeliverable)
        sent, failed, retrying = sent + counts[0], failed + counts[1], retrying + counts[2]
    if failed:
        log.warning("peer outbox: %d message(s) could not be delivered", failed)
    return Delivery(sent, failed, retrying, tuple(undeliverable))


async def _deliver_rows(
    db: Database,
    chat: ChatPort,
    now: datetime,
    ids: list[int],
    on_undeliverable: Undeliverable | None,
    undeliverable: list[int],
) -> tuple[int, int, int]:
    """Claim a small batch in one transaction, send it with none open, record it in one.

    A crash between sending and recording leaves at most one batch claimed: reported later
    as "may or may not have been delivered", never sent twice.
    """
    sent = failed = retrying = 0
    for lo in range(0, len(ids), _CLAIM):
        jobs = await _claim(db, ids[lo : lo + _CLAIM], now)
        claimed = time.monotonic()
        outcomes: list[_Outcome] = []
        for row_id, job in jobs:
            if isinstance(job, str):
                outcomes.append(_Outcome(row_id, None, job, True))
                continue
            if time.monotonic() - claimed > STALE_CLAIM.total_seconds() / 2:
                # Too slow (rate limits): hand the rest back before another process may
                # take the claim over and send them too.
                outcomes.append(_Outcome(row_id, None, None, False, released=True))
                continue
            target, message = job
            try:
                if target[0] == "dm":
                    posted = await chat.dm(target[1], message)
                else:
                    posted = await chat.post(target[1], message)
            except ChatError as exc:
                outcomes.append(_Outcome(row_id, None, str(exc), not exc.retryable))
            else:
                outcomes.append(_Outcome(row_id, posted.message_id, None, True))
        given_up = await _finish(db, outcomes, now)
        for o in outcomes:
            if o.message_id is not None:
                sent += 1
            elif o.row_id in given_up:
                failed += 1
            else:
                retrying += 1
        for aid in given_up.values():
            if aid is not None and on_undeliverable is not None:
                undeliverable.append(aid)
                async with db.session() as s:
                    await on_undeliverable(s, aid, now)
    return sent, failed, retrying


class _Unsendable(Exception):
    """Nothing to send it to (an unlinked person)."""


class _NotYet(Exception):
    """A channel post whose module channel the bot has not linked yet: it waits."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    row_id: int
    message_id: str | None
    error: str | None
    final: bool
    released: bool = False


Job = tuple[tuple[str, str], OutgoingMessage] | str


async def _claim(db: Database, row_ids: list[int], now: datetime) -> list[tuple[int, Job]]:
    """Take the rows no other process took; a str in place of a message says why it cannot
    be sent."""
    async with db.session() as s:
        claimed = set(
            (
                await s.execute(
                    update(PeerOutbox)
                    .where(PeerOutbox.id.in_(row_ids), PeerOutbox.status == PENDING)
                    .values(status=CLAIMED, claimed_at=now, attempts=PeerOutbox.attempts + 1)
                    .returning(PeerOutbox.id)
                )
            ).scalars()
        )
        if not claimed:
            return []
        rows = (
            await s.execute(
                select(PeerOutbox)
                .where(PeerOutbox.id.in_(sorted(claimed)))
                .order_by(PeerOutbox.id)
                .execution_options(populate_existing=True)
            )
        ).scalars()
        jobs: list[tuple[int, Job]] = []
        for row in rows:
            try:
                jobs.append((row.id, await _build(s, row)))
            except _NotYet:
                # Not an attempt: back to pending, tried again on every run until it can go.
                row.status = PENDING
                row.claimed_at = None
                row.attempts -= 1
            except _Unsendable as exc:
                jobs.append((row.id, str(exc)))
        return jobs


async def _build(s: AsyncSession, row: PeerOutbox) -> tuple[tuple[str, str], OutgoingMessage]:
    payload = row.payload
    buttons: tuple[Button, ...] = ()
    if "button" in payload:
        b = payload["button"]
        buttons = (Button(b["label"], custom_id=b["custom_id"], style=ButtonStyle.PRIMARY),)
    files: tuple[FileAttachment, ...] = ()
    if "file" in payload:
        f = payload["file"]
        data = (
            await s.execute(
                select(PeerSubmission.data).where(PeerSubmission.id == f["submission_id"])
            )
        ).scalar_one_or_none()
        if data is not None:
            files = (FileAttachment(f["filename"], data),)
    text = f"{payload['text']}\n{marker(row.id)}"
    message = OutgoingMessage(text=text, buttons=buttons, files=files)
    if row.person_id is not None:
        person = await s.get(Person, row.person_id)
        if person is None or person.platform_user_id is None:
            raise _Unsendable("the person has no chat account linked yet")
        return ("dm", person.platform_user_id), message
    if row.channel_id is None:
        row.channel_id = await _module_channel(s, row.exercise_id)
    if row.channel_id is None:
        raise _NotYet
    return ("channel", row.channel_id), message


async def _module_channel(s: AsyncSession, exercise_id: int) -> str | None:
    """The exercise's module channel as linked now (it may have been unknown when enqueued)."""
    return (
        await s.execute(
            select(Module.channel_id)
            .join(PeerExercise, PeerExercise.module_id == Module.id)
            .where(PeerExercise.id == exercise_id)
        )
    ).scalar_one_or_none()


async def _finish(db: Database, outcomes: list[_Outcome], now: datetime) -> dict[int, int | None]:
    """Record a batch's outcomes; returns the rows given up on, each with its review
    request's assignment when the reviewer cannot be reached (else None)."""
    given_up: dict[int, int | None] = {}
    if not outcomes:
        return given_up
    async with db.session() as s:
        # Only our own claims: one another process took over (ours outlived the lease) is its.
        rows = {
            r.id: r
            for r in (
                await s.execute(
                    select(PeerOutbox).where(
                        PeerOutbox.id.in_([o.row_id for o in outcomes]),
                        PeerOutbox.status == CLAIMED,
                        PeerOutbox.claimed_at == now,
                    )
                )
            ).scalars()
        }
        delivered: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        for o in outcomes:
            row = rows.get(o.row_id)
            if row is None:
                continue
            if o.message_id is not None:
                delivered.append(_sent(row, o.message_id, now))
                if row.assignment_id is not None and row.kind == "assignment":
                    requests.append({"id": row.assignment_id, "dm_message_id": o.message_id})
                continue
            if o.released:
                row.status, row.claimed_at, row.attempts = PENDING, None, row.attempts - 1
                continue
            row.last_error = o.error
            if o.final or row.attempts >= MAX_ATTEMPTS:
                row.status = FAILED
                reach = o.final and row.kind == "assignment"
                given_up[row.id] = row.assignment_id if reach else None
            else:
                row.status = PENDING
                row.not_before = now + timedelta(minutes=2 ** min(row.attempts, 6))
        # Bulk updates by primary key: one statement for the batch, not one per message.
        if delivered:
            await s.execute(update(PeerOutbox), delivered)
        if requests:
            await s.execute(update(ReviewAssignment), requests)
    return given_up


def _sent(row: PeerOutbox, message_id: str, now: datetime) -> dict[str, Any]:
    return {"id": row.id, "status": SENT, "sent_at": now, "platform_message_id": message_id}


def marker(row_id: int) -> str:
    """The last line of every outbox message: the row id only, so it says nothing about who."""
    return f"-# cohortbot peer {row_id}"


def _has_marker(content: str, row_id: int) -> bool:
    """Compared whole: row 4 never matches row 42."""
    lines = content.rstrip().splitlines()
    return bool(lines) and lines[-1].strip() == marker(row_id)


async def _recover_stale_claims(db: Database, chat: ChatPort, now: datetime) -> None:
    """Rows a dead process left claimed: take each over atomically, then look for it."""
    async with db.session() as s:
        stale = (
            await s.execute(
                select(PeerOutbox.id, PeerOutbox.claimed_at)
                .where(PeerOutbox.status == CLAIMED, PeerOutbox.claimed_at < now - STALE_CLAIM)
                .order_by(PeerOutbox.id)
                .limit(_BATCH)
            )
        ).all()
    unread: list[int] = []
    last = ""
    for row_id, old_at in stale:
        async with db.session() as s:
            won = (
                await s.execute(
                    update(PeerOutbox)
                    .where(
                        PeerOutbox.id == row_id,
                        PeerOutbox.status == CLAIMED,
                        PeerOutbox.claimed_at == old_at,
                    )
                    .values(claimed_at=now)
                    .returning(PeerOutbox.id)
                )
            ).first()
            if won is None:
                continue  # another process took it over first
            row = (
                await s.execute(
                    select(PeerOutbox)
                    .where(PeerOutbox.id == row_id)
                    .execution_options(populate_existing=True)
                )
            ).scalar_one()
            where = await _verify_place(s, row)
            after = await _search_after(s, row, old_at)
        try:
            found = None if where is None else await _find(chat, where, after, row_id)
        except ChatError as exc:
            unread.append(row_id)
            last = str(exc)
            continue
        async with db.session() as s:
            mine = (
                await s.execute(
                    select(PeerOutbox).where(
                        PeerOutbox.id == row_id,
                        PeerOutbox.status == CLAIMED,
                        PeerOutbox.claimed_at == now,
                    )
                )
            ).scalar_one_or_none()
            if mine is None:
                continue
            if found is not None:
                await s.execute(update(PeerOutbox), [_sent(mine, found, now)])
                if mine.assignment_id is not None and mine.kind == "assignment":
                    await s.execute(
                        update(ReviewAssignment)
                        .where(ReviewAssignment.id == mine.assignment_id)
                        .values(dm_message_id=found)
                    )
                log.info("peer outbox: row %s was sent before an interruption", row_id)
            else:
                # Never arrived: back to pending, so this run sends it (not an extra attempt).
                mine.status, mine.claimed_at, mine.attempts = PENDING, None, mine.attempts - 1
                log.info("peer outbox: row %s was interrupted before sending; sending", row_id)
    if unread:
        log.warning(
            "peer outbox: cannot read history to verify %d interrupted message(s) %s (%s); "
            "they stay claimed and are checked again later",
            len(unread),
            unread,
            last,
        )


async def _verify_place(s: AsyncSession, row: PeerOutbox) -> tuple[str, str] | None:
    """Where the row's message would be: ("dm", user id) or ("channel", id); None if nowhere."""
    if row.person_id is not None:
        person = await s.get(Person, row.person_id)
        if person is None or person.platform_user_id is None:
            return None
        return "dm", person.platform_user_id
    return None if row.channel_id is None else ("channel", row.channel_id)


async def _search_after(s: AsyncSession, row: PeerOutbox, before: datetime | None) -> str | None:
    """The newest outbox message to the same place sent before the claim: history after it
    is enough to find this row's message."""
    same = (
        PeerOutbox.person_id == row.person_id
        if row.person_id is not None
        else PeerOutbox.channel_id == row.channel_id
    )
    query = select(PeerOutbox.platform_message_id).where(
        same, PeerOutbox.status == SENT, PeerOutbox.platform_message_id.is_not(None)
    )
    if before is not None:
        query = query.where(PeerOutbox.sent_at < before)
    return (
        await s.execute(query.order_by(PeerOutbox.sent_at.desc(), PeerOutbox.id.desc()).limit(1))
    ).scalar_one_or_none()


async def _find(
    chat: ChatPort, where: tuple[str, str], after: str | None, row_id: int
) -> str | None:
    """The id of the bot's message carrying this row's marker, if it arrived."""
    kind, target = where
    channel_id = await chat.dm_channel_id(target) if kind == "dm" else target
    async for message in chat.history(channel_id, after_id=after):
        if message.author_is_bot and _has_marker(message.content, row_id):
            return message.id
    return None

"""Messages the peer service owes people: written with the decision, delivered once.

Services enqueue a row in the same transaction that decided the message (an allocation, a
reminder, a release), so a rolled-back command owes nothing and a committed one cannot forget.
``deliver`` then claims each row with an atomic status change in its own short transaction,
sends it through the chat port with no transaction open, and records the outcome in another:
two processes never send the same row, and a process that dies mid-send leaves a claimed row
that is reported (not silently sent twice).
"""

from __future__ import annotations

import logging
import os
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
#: A claim older than this belongs to a process that died while sending.
STALE_CLAIM = timedelta(minutes=10)
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
    await _expire_stale_claims(db, now)
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
        outcomes: list[_Outcome] = []
        for row_id, job in jobs:
            if isinstance(job, str):
                outcomes.append(_Outcome(row_id, None, job, True))
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
    message = OutgoingMessage(text=payload["text"], buttons=buttons, files=files)
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
        rows = {
            r.id: r
            for r in (
                await s.execute(
                    select(PeerOutbox).where(PeerOutbox.id.in_([o.row_id for o in outcomes]))
                )
            ).scalars()
        }
        delivered: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        for o in outcomes:
            row = rows[o.row_id]
            if o.message_id is not None:
                delivered.append(
                    {
                        "id": row.id,
                        "status": SENT,
                        "sent_at": now,
                        "platform_message_id": o.message_id,
                    }
                )
                if row.assignment_id is not None and row.kind == "assignment":
                    requests.append({"id": row.assignment_id, "dm_message_id": o.message_id})
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


async def _expire_stale_claims(db: Database, now: datetime) -> None:
    async with db.session() as s:
        stale = await s.execute(
            update(PeerOutbox)
            .where(PeerOutbox.status == CLAIMED, PeerOutbox.claimed_at < now - STALE_CLAIM)
            .values(
                status=FAILED,
                last_error="interrupted while sending: it may or may not have been delivered",
            )
            .returning(PeerOutbox.id)
        )
        ids = list(stale.scalars())
    if ids:
        log.warning("peer outbox: %d message(s) were interrupted mid-send: %s", len(ids), ids)

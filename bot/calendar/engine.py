"""The notice engine: deliver every due notice exactly once, whoever and whenever is running.

Notices are rows (``bot.db.models.Notice``); the database is the source of truth and
APScheduler only wakes ``run_due``. One run:

1. **Recover stale claims.** A notice stays ``claimed`` only while its claimer is sending. One
   claimed longer than the lease (``EngineConfig.lease``, 2 minutes) belongs to a process that
   died or stalled between claiming and recording the outcome. It is re-claimed atomically
   (``UPDATE ... WHERE status='claimed' AND claimed_by=<old> AND claimed_at=<old>``) and then
   *verified*: the channel (and for a DM the DM channel, then the module channel where a closed
   DM falls back) is searched for the notice's marker line. Found: the send is recorded, nothing
   is sent. Not found: it is sent now. When the history cannot be read, nothing is sent and the
   claim is kept for a later try: a notice may come late, never twice. A notice whose earlier
   attempt failed with an uncertain outcome (a timeout, a 5xx) is verified the same way first.
2. **Claim what is due** (``status='pending' AND due_at <= now``, retries after ``retry_at``),
   oldest first, in batches: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL so two bot
   processes take disjoint batches, and on every backend an ``UPDATE ... WHERE status='pending'
   RETURNING id`` that only one transaction can win. ``bot.calendar.notices.catch_up_many``
   decides each one: superseded or no longer useful ones are skipped and logged, the rest are
   claimed, marked late when more than ``LATE_AFTER`` past due.
3. **Deliver** the claimed batch concurrently (bounded), each with a timeout well inside the
   lease. Channel notices are one post (class-wide ones mention the module role). Individual
   ones are DMs; a closed DM (403, 50007) is recorded and falls back to a mention in the module
   channel. A failure puts the notice back to ``pending`` with ``retry_at`` (exponential
   backoff) and never holds up the others; after ``max_attempts`` it is ``failed``. 429s are
   waited out by discord.py itself.
4. **Record** ``sent`` with the platform message id in a second short transaction, guarded by
   ``claimed_by`` so a claim that was taken over is never overwritten.

The residual risk is a process that stalls for longer than the lease *after* checking its claim
and *before* its request reaches Discord; sends are given a timeout of a quarter of the lease
and the claim's age is checked just before each send to keep that window closed in practice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import messages as M
from bot.calendar.engine_outcomes import BACKOFF as BACKOFF
from bot.calendar.engine_sending import _deliver_all
from bot.calendar.engine_state import Clock, _atomic, _Claimed
from bot.calendar.engine_state import DispatchReport as DispatchReport
from bot.calendar.engine_state import EngineConfig as EngineConfig
from bot.calendar.engine_state import NoticeChat as NoticeChat
from bot.calendar.engine_state import Outcome as Outcome
from bot.calendar.engine_state import _inflight as _inflight
from bot.calendar.engine_state import new_worker_id as new_worker_id
from bot.calendar.notices import Delivery, NoticeTiming, catch_up_many
from bot.db.engine import Database
from bot.db.models import (
    CalendarEvent,
    EventOccurrence,
    Module,
    Notice,
    NoticeStatus,
    OccurrenceStatus,
    Person,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

__all__ = [
    "DispatchReport",
    "EngineConfig",
    "NoticeChat",
    "new_worker_id",
    "next_due_at",
    "run_due",
]


async def run_due(
    db: Database,
    chat: NoticeChat,
    *,
    now: datetime,
    config: EngineConfig,
    clock: Clock | None = None,
    on_outcome: Outcome | None = None,
) -> DispatchReport:
    """Deliver what is due at ``now``; returns counts and when the next notice is due."""
    report = DispatchReport()
    stamp = clock or (lambda: now)
    emit = on_outcome or (lambda _outcome: None)
    stale = await _reclaim_stale(db, stamp(), config)
    if stale:
        await _deliver_all(db, chat, stale, config, report, stamp, emit)
    for _ in range(config.max_batches):
        claimed = await _claim_due(db, now, stamp(), config, report, emit)
        if claimed:
            await _deliver_all(db, chat, claimed, config, report, stamp, emit)
        if len(claimed) < config.batch_size:
            break

    async def find_next(session: AsyncSession) -> Any:
        report.next_due_at = await next_due_at(session, config.lease)

    await _atomic(db, find_next)
    return report


async def next_due_at(session: AsyncSession, lease: timedelta) -> datetime | None:
    """When the dispatcher next has work: a due notice, a retry, or a claim's lease ending."""
    fresh = (
        await session.execute(
            select(func.min(Notice.due_at)).where(
                Notice.status == NoticeStatus.PENDING, Notice.retry_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    retry = (
        await session.execute(
            select(func.min(Notice.retry_at)).where(
                Notice.status == NoticeStatus.PENDING, Notice.retry_at.is_not(None)
            )
        )
    ).scalar_one_or_none()
    claimed = (
        await session.execute(
            select(func.min(Notice.claimed_at)).where(Notice.status == NoticeStatus.CLAIMED)
        )
    ).scalar_one_or_none()
    candidates = [t for t in (fresh, retry) if t is not None]
    if claimed is not None:
        candidates.append(claimed + lease + timedelta(seconds=1))
    return min(candidates) if candidates else None


# --------------------------------------------------------------------------- claiming


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def _reclaim_stale(db: Database, now: datetime, config: EngineConfig) -> list[_Claimed]:
    cutoff = now - config.lease

    async def reclaim(session: AsyncSession) -> Any:
        stmt = (
            select(Notice.id, Notice.claimed_by, Notice.claimed_at)
            .where(Notice.status == NoticeStatus.CLAIMED, Notice.claimed_at < cutoff)
            .order_by(Notice.claimed_at, Notice.id)
            .limit(config.batch_size)
        )
        if _is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await session.execute(stmt)).all()
        won: list[tuple[int, datetime]] = []
        for notice_id, old_by, old_at in rows:
            result = await session.execute(
                update(Notice)
                .where(
                    Notice.id == notice_id,
                    Notice.status == NoticeStatus.CLAIMED,
                    Notice.claimed_by == old_by,
                    Notice.claimed_at == old_at,
                )
                .values(claimed_by=config.worker_id, claimed_at=now, attempts=Notice.attempts + 1)
                .returning(Notice.id)
            )
            if result.first() is not None:
                won.append((notice_id, old_at))
                log.warning(
                    "notice %s: claim by %s expired; verifying before any resend", notice_id, old_by
                )
        claimed = await _load_claimed(session, [i for i, _ in won], verify=True)
        before = dict(won)
        return [
            replace(c, search_after=await _search_bounds(session, c, before[c.id])) for c in claimed
        ]

    return await _atomic(db, reclaim)


async def _claim_due(
    db: Database,
    now: datetime,
    claim_time: datetime,
    config: EngineConfig,
    report: DispatchReport,
    emit: Outcome,
) -> list[_Claimed]:
    async def claim(session: AsyncSession) -> Any:
        stmt = (
            select(Notice.id, Notice.group_key, Notice.due_at, Notice.useful_until, Notice.payload)
            .where(
                Notice.status == NoticeStatus.PENDING,
                Notice.due_at <= now,
                or_(Notice.retry_at.is_(None), Notice.retry_at <= now),
            )
            .order_by(Notice.due_at, Notice.id)
            .limit(config.batch_size)
        )
        if _is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        due = (await session.execute(stmt)).all()
        if not due:
            return []
        groups = sorted({row.group_key for row in due})
        pending = (
            await session.execute(
                select(Notice.id, Notice.group_key, Notice.due_at, Notice.useful_until).where(
                    Notice.status == NoticeStatus.PENDING, Notice.group_key.in_(groups)
                )
            )
        ).all()
        due_ids = {row.id for row in due}
        others = [row for row in pending if row.id not in due_ids]
        timings = [NoticeTiming(r.group_key, r.due_at, r.useful_until) for r in due] + [
            NoticeTiming(r.group_key, r.due_at, r.useful_until) for r in others
        ]
        decisions = catch_up_many(now, timings)[: len(due)]
        on_time: list[int] = []
        late: list[int] = []
        verify: set[int] = set()
        for row, decision in zip(due, decisions, strict=True):
            if decision is Delivery.SKIP:
                reason = _skip_reason(row, now)
                skipped = await session.execute(
                    update(Notice)
                    .where(Notice.id == row.id, Notice.status == NoticeStatus.PENDING)
                    .values(status=NoticeStatus.SKIPPED, last_error=reason)
                    .returning(Notice.id)
                )
                if skipped.first() is not None:
                    log.info("notice %s skipped: %s", row.id, reason)
                    report.skipped += 1
                    report.outcomes.append((row.id, "skipped"))
                    emit("skipped")
            elif decision is Delivery.SEND_LATE:
                late.append(row.id)
            else:
                on_time.append(row.id)
            if (row.payload or {}).get("verify"):
                verify.add(row.id)
        won: list[int] = []
        for ids, is_late in ((on_time, False), (late, True)):
            if not ids:
                continue
            result = await session.execute(
                update(Notice)
                .where(Notice.id.in_(ids), Notice.status == NoticeStatus.PENDING)
                .values(
                    status=NoticeStatus.CLAIMED,
                    claimed_by=config.worker_id,
                    claimed_at=claim_time,
                    attempts=Notice.attempts + 1,
                    late=is_late,
                )
                .returning(Notice.id)
            )
            won += [r[0] for r in result.all()]
        claimed = await _load_claimed(session, sorted(won), verify=False)
        out: list[_Claimed] = []
        for c in claimed:
            if c.id in verify:
                c = replace(
                    c, verify=True, search_after=await _search_bounds(session, c, c.claimed_at)
                )
            out.append(c)
        return out

    return await _atomic(db, claim)


def _skip_reason(row: Any, now: datetime) -> str:
    if row.useful_until is not None and now >= row.useful_until:
        return "its moment passed while the bot was unavailable (no longer useful)"
    return "superseded by a later notice about the same item that is also due"


async def _load_claimed(
    session: AsyncSession, ids: Sequence[int], *, verify: bool
) -> list[_Claimed]:
    if not ids:
        return []
    rows = (
        await session.execute(
            select(Notice, Module, Person)
            .outerjoin(Module, Module.id == Notice.module_id)
            .outerjoin(Person, Person.id == Notice.person_id)
            .where(Notice.id.in_(list(ids)))
            .order_by(Notice.due_at, Notice.id)
        )
    ).all()
    occurrence_ids = {n.occurrence_id for n, _, _ in rows if n.occurrence_id is not None}
    cards: dict[int, tuple[M.CardFacts, str | None]] = {}
    if occurrence_ids:
        cards = await _cards(session, occurrence_ids)
    out: list[_Claimed] = []
    for notice, module, person in rows:
        card = cards.get(notice.occurrence_id) if notice.occurrence_id is not None else None
        module_channel = module.channel_id if module is not None else None
        out.append(
            _Claimed(
                id=notice.id,
                kind=notice.kind,
                audience=notice.audience,
                payload=dict(notice.payload or {}),
                late=notice.late,
                claimed_at=notice.claimed_at or notice.due_at,
                attempts=notice.attempts,
                module_channel_id=module_channel,
                role_id=module.role_id if module is not None else None,
                target_channel_id=notice.channel_id or module_channel,
                user_id=person.platform_user_id if person is not None else None,
                zone=person.timezone if person is not None else None,
                dm_reminders=person.dm_reminders if person is not None else True,
                occurrence_id=notice.occurrence_id,
                card=card[0] if card else None,
                card_message_id=card[1] if card else None,
                verify=verify,
            )
        )
    return out


async def _cards(
    session: AsyncSession, occurrence_ids: set[int]
) -> dict[int, tuple[M.CardFacts, str | None]]:
    rows = (
        await session.execute(
            select(EventOccurrence, CalendarEvent, Module.code)
            .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
            .join(Module, Module.id == CalendarEvent.module_id)
            .where(EventOccurrence.id.in_(sorted(occurrence_ids)))
        )
    ).all()
    event_ids = {ev.id for _, ev, _ in rows}
    counted = await session.execute(
        select(EventOccurrence.event_id, func.count())
        .where(EventOccurrence.event_id.in_(sorted(event_ids)))
        .group_by(EventOccurrence.event_id)
    )
    totals: dict[int, int] = {int(e): int(n) for e, n in counted.all()}
    out: dict[int, tuple[M.CardFacts, str | None]] = {}
    for occ, event, code in rows:
        out[occ.id] = (
            M.CardFacts(
                occurrence_id=occ.id,
                module_code=code,
                title=event.title,
                sequence=occ.sequence,
                total=int(totals.get(event.id, 1)),
                starts_at=occ.starts_at,
                ends_at=occ.ends_at,
                join_url=event.join_url,
                cancelled=occ.status is OccurrenceStatus.CANCELLED,
            ),
            occ.message_id,
        )
    return out


async def _search_bounds(
    session: AsyncSession, claimed: _Claimed, before: datetime
) -> dict[str, str | None]:
    """Per channel that may hold this notice, the newest notice message sent before ``before``."""
    channels = [c for c in (claimed.target_channel_id, claimed.module_channel_id) if c]
    bounds: dict[str, str | None] = {}
    for channel in dict.fromkeys(channels):
        bounds[channel] = (
            await session.execute(
                select(Notice.platform_message_id)
                .where(
                    Notice.channel_id == channel,
                    Notice.status == NoticeStatus.SENT,
                    Notice.platform_message_id.is_not(None),
                    Notice.sent_at < before,
                )
                .order_by(Notice.sent_at.desc(), Notice.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    return bounds

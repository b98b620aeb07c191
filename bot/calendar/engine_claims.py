"""Claiming due notices and recovering stale claims, atomically and on every backend
(see ``bot.calendar.engine``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import messages as M
from bot.calendar.engine_state import DispatchReport, EngineConfig, Outcome, _atomic, _Claimed
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

log = logging.getLogger("bot.calendar.engine")  # one logger name for the whole engine


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def _reclaim_stale(db: Database, now: datetime, config: EngineConfig) -> list[_Claimed]:
    cutoff = now - config.lease

    async def reclaim(session: AsyncSession) -> Any:
        stmt = (
            select(Notice.id, Notice.claimed_by, Notice.claimed_at)
            .where(
                Notice.status == NoticeStatus.CLAIMED,
                Notice.claimed_at < cutoff,
                # The outbox's own (handed over): its lease and verification are its own.
                Notice.claimed_by != "outbox",
            )
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

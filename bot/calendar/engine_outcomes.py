"""Recording what became of a claimed notice (sent, skipped, failed, retry later, released),
each guarded by the claim so a claim taken over meanwhile is never overwritten."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import messages as M
from bot.calendar.engine_state import (
    EngineConfig,
    _atomic,
    _Claimed,
    _Run,
)
from bot.db.models import EventOccurrence, Notice, NoticeStatus

log = logging.getLogger("bot.calendar.engine")  # one logger name for the whole engine


BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)


def _count_sent(run: _Run, n: _Claimed) -> None:
    report, emit = run.report, run.emit
    if n.late:
        report.late += 1
        report.outcomes.append((n.id, "late"))
        emit("late")
    else:
        report.sent += 1
        report.outcomes.append((n.id, "sent"))
        emit("sent")


def _mine(n: _Claimed, config: EngineConfig) -> Any:
    return (
        (Notice.id == n.id)
        & (Notice.status == NoticeStatus.CLAIMED)
        & (Notice.claimed_by == config.worker_id)
    )


async def _mark_sent(
    run: _Run,
    n: _Claimed,
    channel_id: str,
    message_id: str,
    via: str,
    *,
    note: str | None = None,
) -> None:
    async def record_sent(session: AsyncSession) -> Any:
        result = await session.execute(
            update(Notice)
            .where(_mine(n, run.config))
            .values(
                status=NoticeStatus.SENT,
                sent_at=run.clock(),
                channel_id=channel_id,
                platform_message_id=message_id,
                delivered_via=via,
                last_error=note,
                retry_at=None,
            )
            .returning(Notice.id)
        )
        if result.first() is None:
            log.warning(
                "notice %s (message %s): its claim was recovered meanwhile; the recovery "
                "verified it against the channel history",
                n.id,
                message_id,
            )
            return
        if n.kind == M.TUTORIAL_CARD and n.occurrence_id is not None:
            await session.execute(
                update(EventOccurrence)
                .where(EventOccurrence.id == n.occurrence_id)
                .values(message_id=message_id)
            )

    await _atomic(run.db, record_sent)


async def _finish(run: _Run, n: _Claimed, status: NoticeStatus, reason: str) -> None:
    async def finish(session: AsyncSession) -> Any:
        await session.execute(
            update(Notice).where(_mine(n, run.config)).values(status=status, last_error=reason)
        )

    await _atomic(run.db, finish)
    log.info("notice %s %s: %s", n.id, status.value, reason)


async def _skip(run: _Run, n: _Claimed, reason: str) -> None:
    await _finish(run, n, NoticeStatus.SKIPPED, reason)
    run.report.skipped += 1
    run.report.outcomes.append((n.id, "skipped"))
    run.emit("skipped")


async def _fail(run: _Run, n: _Claimed, reason: str) -> None:
    async def record_failure(session: AsyncSession) -> Any:
        await session.execute(
            update(Notice)
            .where(_mine(n, run.config))
            .values(status=NoticeStatus.FAILED, last_error=reason[:1000])
        )

    await _atomic(run.db, record_failure)
    log.error("notice %s failed for good: %s", n.id, reason)
    run.report.failed += 1
    run.report.outcomes.append((n.id, "failed"))
    run.emit("failed")


async def _retry_later(run: _Run, n: _Claimed, reason: str) -> None:
    """Back to pending after a pause; the next attempt first checks whether this one landed."""
    if n.attempts >= run.config.max_attempts:
        await _fail(run, n, f"gave up after {n.attempts} attempts: {reason}")
        return
    delay = BACKOFF[min(n.attempts - 1, len(BACKOFF) - 1)]
    payload = {**n.payload, "verify": True}

    async def back_off(session: AsyncSession) -> Any:
        await session.execute(
            update(Notice)
            .where(_mine(n, run.config))
            .values(
                status=NoticeStatus.PENDING,
                claimed_by=None,
                claimed_at=None,
                retry_at=run.clock() + delay,
                last_error=reason[:1000],
                payload=payload,
            )
        )

    await _atomic(run.db, back_off)
    log.warning("notice %s: delivery failed (%s); retrying in %s", n.id, reason, delay)
    run.report.retrying += 1
    run.report.outcomes.append((n.id, "retrying"))


async def _release(run: _Run, n: _Claimed) -> None:
    """Not started in time (a long queue): hand it back untouched rather than risk the lease."""

    async def release(session: AsyncSession) -> Any:
        await session.execute(
            update(Notice)
            .where(_mine(n, run.config))
            .values(status=NoticeStatus.PENDING, claimed_by=None, claimed_at=None)
        )

    await _atomic(run.db, release)

"""The notice engine: decide which notices are due, and hand each to the outbox once.

Notices are rows (``bot.db.models.Notice``); the database is the source of truth and
APScheduler only wakes ``run_due``. One run:

1. **Recover stale claims.** A notice the engine claimed stays ``claimed`` only until it is
   handed over. One claimed longer than the lease (``EngineConfig.lease``, 2 minutes) by an
   engine (a process that died between claiming and handing over, or an older version that
   sent notices itself) is re-claimed atomically (``UPDATE ... WHERE status='claimed' AND
   claimed_by=<old> AND claimed_at=<old>``) and handed over *to be verified*: the outbox
   searches the channel (for a DM the DM channel, then the module channel where a closed DM
   falls back) for the notice's marker line before sending anything.
2. **Claim what is due** (``status='pending' AND due_at <= now``, retries after ``retry_at``),
   oldest first, in batches: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL so two bot
   processes take disjoint batches, and on every backend an ``UPDATE ... WHERE status='pending'
   RETURNING id`` that only one transaction can win. ``bot.calendar.notices.catch_up_many``
   decides each one: superseded or no longer useful ones are skipped and logged, the rest are
   claimed, marked late when more than ``LATE_AFTER`` past due.
3. **Hand over** (``engine_handover``): each claimed notice is rendered as it reads now (a late
   note, the time left), DM reminders someone turned off are skipped, and the message is
   enqueued in the outbox in the transaction that marks the notice the outbox's
   (``claimed_by='outbox'``). Channel notices are one post (class-wide ones mention the module
   role); individual ones are DMs that fall back to a mention in the module channel when DMs
   are closed.
4. **Send**: the outbox (``bot.outbox``) sends concurrently, paced to the platform's limit,
   verifies after a crash, retries with backoff, and its hooks record ``sent`` (with the
   message id and how it went) or ``failed`` on the notice.

The parts: ``engine_claims`` (steps 1 and 2), ``engine_handover`` (3 and the outbox's
outcomes), ``engine_state`` (what they share). This module keeps the run loop and the names
callers import.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.calendar.engine_claims import _claim_due, _reclaim_stale
from bot.calendar.engine_handover import OUTBOX, count_outcomes, hand_over
from bot.calendar.engine_state import Clock, _atomic, _Run
from bot.calendar.engine_state import DispatchReport as DispatchReport
from bot.calendar.engine_state import EngineConfig as EngineConfig
from bot.calendar.engine_state import NoticeChat as NoticeChat
from bot.calendar.engine_state import Outcome as Outcome
from bot.calendar.engine_state import _inflight as _inflight
from bot.db.engine import Database
from bot.db.models import Notice, NoticeStatus
from bot.outbox import new_worker_id as new_worker_id
from bot.outbox.policy import BACKOFF as BACKOFF

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
    sender: outbox.Outbox | None = None,
) -> DispatchReport:
    """Hand what is due at ``now`` to the outbox and have it sent (by ``sender``, the
    application's, when given); returns counts and when the next notice is due."""
    report = DispatchReport()
    stamp = clock or (lambda: now)
    emit = on_outcome or (lambda _outcome: None)
    run = _Run(db, chat, config, report, stamp, emit)
    handed = await hand_over(run, await _reclaim_stale(db, stamp(), config))
    for _ in range(config.max_batches):
        claimed = await _claim_due(db, now, stamp(), config, report, emit)
        handed += await hand_over(run, claimed)
        if len(claimed) < config.batch_size:
            break
    if sender is None:
        sender = outbox.Outbox(
            db, chat, clock=stamp, worker_id=config.worker_id, max_attempts=config.max_attempts
        )
    sent = await sender.run(stamp())
    await count_outcomes(run, sent.outcomes, handed)

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
            select(func.min(Notice.claimed_at)).where(
                Notice.status == NoticeStatus.CLAIMED, Notice.claimed_by != OUTBOX
            )
        )
    ).scalar_one_or_none()
    candidates = [t for t in (fresh, retry) if t is not None]
    if claimed is not None:
        candidates.append(claimed + lease + timedelta(seconds=1))
    return min(candidates) if candidates else None

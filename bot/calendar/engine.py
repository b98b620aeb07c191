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

The parts: ``engine_claims`` (steps 1 and 2), ``engine_sending`` (3 and the verification),
``engine_outcomes`` (4 and the retry policy), ``engine_state`` (what they share). This module
keeps the run loop and the names callers import.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.engine_claims import _claim_due, _reclaim_stale
from bot.calendar.engine_outcomes import BACKOFF as BACKOFF
from bot.calendar.engine_sending import _deliver_all
from bot.calendar.engine_state import Clock, _atomic, _Run
from bot.calendar.engine_state import DispatchReport as DispatchReport
from bot.calendar.engine_state import EngineConfig as EngineConfig
from bot.calendar.engine_state import NoticeChat as NoticeChat
from bot.calendar.engine_state import Outcome as Outcome
from bot.calendar.engine_state import _inflight as _inflight
from bot.calendar.engine_state import new_worker_id as new_worker_id
from bot.db.engine import Database
from bot.db.models import Notice, NoticeStatus

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
    run = _Run(db, chat, config, report, stamp, emit)
    stale = await _reclaim_stale(db, stamp(), config)
    if stale:
        await _deliver_all(run, stale)
    for _ in range(config.max_batches):
        claimed = await _claim_due(db, now, stamp(), config, report, emit)
        if claimed:
            await _deliver_all(run, claimed)
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

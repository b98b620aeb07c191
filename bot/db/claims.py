"""Claims: the first process to record a key acts on it, every other one stands back.

Several ``cohortbot run`` processes may share one database (PostgreSQL). Discord sends every
gateway event, interactions included, to every session, so each process sees each slash
command, button press and form. Before acting, a process inserts the event's key into
``processed_events``; the primary key lets exactly one insert win, on both backends, with no
read-then-write race. Claims are only needed for a short while (Discord retries nothing after
15 minutes), so old ones are pruned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ProcessedEvent
from bot.db.ops import insert_ignore

#: How long a claim is kept: far beyond Discord's 15-minute interaction lifetime.
CLAIM_TTL = timedelta(days=1)


async def claim_once(session: AsyncSession, key: str, now: datetime) -> bool:
    """True for the one caller that records ``key`` first; False for everyone after it."""
    inserted = await insert_ignore(
        session, ProcessedEvent, [{"key": key, "processed_at": now}], conflict=["key"]
    )
    return inserted == 1


async def prune_claims(session: AsyncSession, prefix: str, now: datetime) -> int:
    """Forget claims under ``prefix`` older than ``CLAIM_TTL``; returns how many went."""
    result = await session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.key.startswith(prefix, autoescape=True),
            ProcessedEvent.processed_at < now - CLAIM_TTL,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)

"""The participation ledger: one append-only row per credited activity.

Every feature credits through here, keyed by an idempotency key derived from the platform
event (message id, interaction id...), so replays and backfills count once. Corrections are
reversal rows, never updates (the database refuses UPDATE and DELETE on this table).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import LedgerEntry, LedgerSource
from bot.db.ops import insert_ignore
from bot.db.types import utcnow


@dataclass(frozen=True)
class Credit:
    idempotency_key: str
    module_id: int
    person_id: int
    source: LedgerSource
    item_type: str
    item_id: int
    source_ref: str
    points: Decimal
    occurred_at: datetime
    note: str | None = None


async def credit(
    session: AsyncSession, credits: Sequence[Credit], *, at: datetime | None = None
) -> int:
    """Append credits; those whose key is already recorded are skipped. Returns rows added.

    ``at`` is the recording time (pass the bot's clock so the demo's term clock shows).
    """
    now = at or utcnow()
    rows = [
        {
            "idempotency_key": c.idempotency_key,
            "module_id": c.module_id,
            "person_id": c.person_id,
            "source": c.source,
            "item_type": c.item_type,
            "item_id": c.item_id,
            "source_ref": c.source_ref,
            "points": c.points,
            "occurred_at": c.occurred_at,
            "recorded_at": now,
            "note": c.note,
        }
        for c in credits
    ]
    return await insert_ignore(session, LedgerEntry, rows, conflict=["idempotency_key"])


async def reverse(
    session: AsyncSession, idempotency_key: str, reason: str, *, at: datetime | None = None
) -> bool:
    """Cancel a credit by appending its negative; a second reversal of the same key is a no-op."""
    original = (
        await session.execute(
            select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
        )
    ).scalar_one_or_none()
    if original is None:
        return False
    added = await credit(
        session,
        [
            Credit(
                idempotency_key=f"{idempotency_key}#reversed",
                module_id=original.module_id,
                person_id=original.person_id,
                source=original.source,
                item_type=original.item_type,
                item_id=original.item_id,
                source_ref=original.source_ref,
                points=-original.points,
                occurred_at=at or utcnow(),
                note=reason,
            )
        ],
        at=at,
    )
    return added == 1


async def totals(
    session: AsyncSession, module_id: int, person_ids: Iterable[int] | None = None
) -> dict[int, dict[LedgerSource, Decimal]]:
    """Sum of points per person and source in one module (reversals included)."""
    stmt = (
        select(LedgerEntry.person_id, LedgerEntry.source, func.sum(LedgerEntry.points))
        .where(LedgerEntry.module_id == module_id)
        .group_by(LedgerEntry.person_id, LedgerEntry.source)
    )
    if person_ids is not None:
        stmt = stmt.where(LedgerEntry.person_id.in_(list(person_ids)))
    result: dict[int, dict[LedgerSource, Decimal]] = defaultdict(dict)
    for person_id, source, total in (await session.execute(stmt)).all():
        result[person_id][LedgerSource(source)] = Decimal(total)
    return dict(result)


async def entries_for(
    session: AsyncSession, person_id: int, module_id: int | None = None
) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).where(LedgerEntry.person_id == person_id)
    if module_id is not None:
        stmt = stmt.where(LedgerEntry.module_id == module_id)
    stmt = stmt.order_by(LedgerEntry.occurred_at, LedgerEntry.id)
    return list((await session.execute(stmt)).scalars().all())

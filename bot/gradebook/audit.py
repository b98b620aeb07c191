"""The audit trail of grade changes: who, when, before, after, why — kept forever.

Rows are append-only (enforced by the database). Values are stored as JSON-safe dicts so the
trail reads the same on SQLite and PostgreSQL and in an export.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, Person
from bot.db.types import utcnow


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


async def record(
    session: AsyncSession,
    *,
    actor: Person | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    subject_person_id: int | None = None,
    module_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
    at: datetime | None = None,
    actor_label: str | None = None,
) -> AuditEntry:
    """Append one entry. ``actor_label`` overrides the actor's name (the trail is append-only,
    so a student's own request is labelled without their name: erasure cannot rewrite it)."""
    label = actor_label or (actor.display_name if actor else "cohortbot")
    entry = AuditEntry(
        at=at or utcnow(),
        actor_person_id=actor.id if actor else None,
        actor_label=label,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        subject_person_id=subject_person_id,
        module_id=module_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        reason=reason,
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class TrailQuery:
    subject_person_id: int | None = None
    entity_type: str | None = None
    entity_id: int | None = None
    module_ids: frozenset[int] | None = None
    #: any of these entity types (features spell the same item differently)
    entity_types: frozenset[str] | None = None


async def trail(session: AsyncSession, query: TrailQuery) -> list[AuditEntry]:
    """The entries matching a student and/or an item, oldest first."""
    stmt = select(AuditEntry)
    if query.subject_person_id is not None:
        stmt = stmt.where(AuditEntry.subject_person_id == query.subject_person_id)
    if query.entity_type is not None:
        stmt = stmt.where(AuditEntry.entity_type == query.entity_type)
    if query.entity_types is not None:
        stmt = stmt.where(AuditEntry.entity_type.in_(sorted(query.entity_types)))
    if query.entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == query.entity_id)
    if query.module_ids is not None:
        stmt = stmt.where(AuditEntry.module_id.in_(sorted(query.module_ids)))
    stmt = stmt.order_by(AuditEntry.at, AuditEntry.id)
    return list((await session.execute(stmt)).scalars().all())

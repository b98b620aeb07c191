"""The audit trail of grade changes: who, when, before, after, why — kept forever.

Rows are append-only (enforced by the database). Values are stored as JSON-safe dicts so the
trail reads the same on SQLite and PostgreSQL and in an export.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AuditEntry,
    DashboardSession,
    Extension,
    PeerExercise,
    PeerResult,
    Person,
    TutorMessage,
)
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


class Details(TypedDict, total=False):
    """What an entry may say besides who did what to which row (each may be left out)."""

    subject_person_id: int | None
    module_id: int | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    reason: str | None
    at: datetime | None
    #: overrides the actor's name (the trail is append-only, so a student's own request is
    #: labelled without their name: erasure cannot rewrite it)
    actor_label: str | None


async def record(
    session: AsyncSession,
    *,
    actor: Person | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    **details: Unpack[Details],
) -> AuditEntry:
    """Append one entry."""
    before, after = details.get("before"), details.get("after")
    entry = AuditEntry(
        at=details.get("at") or utcnow(),
        actor_person_id=actor.id if actor else None,
        actor_label=details.get("actor_label") or (actor.display_name if actor else "cohortbot"),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        subject_person_id=details.get("subject_person_id"),
        module_id=details.get("module_id"),
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        reason=details.get("reason"),
    )
    session.add(entry)
    await session.flush()
    return entry


#: The trail's name for each kind of row an entry can be about, so every feature that audits
#: a row of one kind names it the same way (a trail query filters on the name).
Audited: TypeAlias = DashboardSession | Extension | PeerExercise | PeerResult | TutorMessage
ENTITY_TYPES: Mapping[type[Audited], str] = {
    DashboardSession: "dashboard_session",
    Extension: "extension",
    PeerExercise: "peer_exercise",
    PeerResult: "peer_result",
    TutorMessage: "tutor_message",
}


async def record_of(
    session: AsyncSession,
    actor: Person | None,
    action: str,
    row: Audited,
    **details: Unpack[Details],
) -> AuditEntry:
    """``record`` about one stored row: its kind and id come from the row itself."""
    return await record(
        session,
        actor=actor,
        action=action,
        entity_type=ENTITY_TYPES[type(row)],
        entity_id=row.id,
        **details,
    )


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

"""Loading calendar rows for a command, scoped to the caller's cohort; a miss is a refusal."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    CalendarEvent,
    EventKind,
    EventOccurrence,
    Module,
)
from bot.errors import NotFound


async def _event(
    session: AsyncSession, cohort_id: int, event_id: int, kinds: set[EventKind], what: str
) -> tuple[CalendarEvent, Module]:
    row = (
        await session.execute(
            select(CalendarEvent, Module)
            .join(Module, Module.id == CalendarEvent.module_id)
            .where(CalendarEvent.id == event_id, Module.cohort_id == cohort_id)
        )
    ).first()
    if row is None or row[0].kind not in kinds:
        raise NotFound(f"There is no {what} #{event_id} in this cohort; see /calendar upcoming.")
    return row[0], row[1]


async def _occurrences(session: AsyncSession, event_id: int) -> list[EventOccurrence]:
    return list(
        (
            await session.scalars(
                select(EventOccurrence)
                .where(EventOccurrence.event_id == event_id)
                .order_by(EventOccurrence.sequence)
            )
        ).all()
    )


async def _occurrence(
    session: AsyncSession, cohort_id: int, occurrence_id: int
) -> tuple[EventOccurrence, CalendarEvent, Module]:
    row = (
        await session.execute(
            select(EventOccurrence, CalendarEvent, Module)
            .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
            .join(Module, Module.id == CalendarEvent.module_id)
            .where(EventOccurrence.id == occurrence_id, Module.cohort_id == cohort_id)
        )
    ).first()
    if row is None or row[1].kind is not EventKind.TUTORIAL:
        raise NotFound("That tutorial session no longer exists.")
    return row[0], row[1], row[2]


async def _deadline_occurrence(session: AsyncSession, event: CalendarEvent) -> EventOccurrence:
    return (
        await session.execute(
            select(EventOccurrence).where(
                EventOccurrence.event_id == event.id, EventOccurrence.sequence == 1
            )
        )
    ).scalar_one()

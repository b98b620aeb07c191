"""Helpers more than one dashboard page uses: row-to-dict folds and what is due soon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    CalendarEvent,
    DiscussionPrompt,
    EventKind,
    EventOccurrence,
    ExerciseStatus,
    OccurrenceStatus,
    PeerExercise,
    PromptStatus,
)
from bot.due import reached


def _counts(rows: Any) -> dict[int, int]:
    return {int(k): int(v) for k, v in rows}


async def _count_by(
    session: AsyncSession, key: Any, *where: Any, join: tuple[Any, Any] | None = None
) -> dict[int, int]:
    """How many rows match ``where``, per value of ``key`` (a module, a session): one GROUP BY."""
    stmt = select(key, func.count())
    if join is not None:
        stmt = stmt.join(*join)
    return _counts((await session.execute(stmt.where(*where).group_by(key))).all())


def _names(rows: Any) -> dict[int, str]:
    return {int(k): str(v) for k, v in rows}


@dataclass(frozen=True)
class Upcoming:
    module_code: str
    title: str
    kind: str
    due_at: datetime


async def _upcoming(
    session: AsyncSession, codes: dict[int, str], now: datetime, days: int = 28
) -> list[Upcoming]:
    until = now + timedelta(days=days)
    ids = list(codes)
    found: list[Upcoming] = []
    for mid, title, when in (
        await session.execute(
            select(
                DiscussionPrompt.module_id, DiscussionPrompt.title, DiscussionPrompt.closes_at
            ).where(
                DiscussionPrompt.module_id.in_(ids),
                DiscussionPrompt.status != PromptStatus.CANCELLED,
                DiscussionPrompt.closes_at > now,
                DiscussionPrompt.closes_at <= until,
            )
        )
    ).all():
        found.append(Upcoming(codes[mid], title, "discussion closes", when))
    for mid, title, sub, rev in (
        await session.execute(
            select(
                PeerExercise.module_id,
                PeerExercise.title,
                PeerExercise.submission_due_at,
                PeerExercise.review_due_at,
            ).where(
                PeerExercise.module_id.in_(ids),
                PeerExercise.status != ExerciseStatus.CANCELLED,
                PeerExercise.review_due_at > now,
                PeerExercise.submission_due_at <= until,
            )
        )
    ).all():
        if not reached(sub, now):
            found.append(Upcoming(codes[mid], title, "submission due", sub))
        if rev <= until:
            found.append(Upcoming(codes[mid], title, "reviews due", rev))
    for mid, title, kind, when in (
        await session.execute(
            select(
                CalendarEvent.module_id,
                CalendarEvent.title,
                CalendarEvent.kind,
                EventOccurrence.starts_at,
            )
            .join(EventOccurrence, EventOccurrence.event_id == CalendarEvent.id)
            .where(
                CalendarEvent.module_id.in_(ids),
                CalendarEvent.kind != EventKind.TUTORIAL,
                CalendarEvent.cancelled_at.is_(None),
                EventOccurrence.status == OccurrenceStatus.SCHEDULED,
                EventOccurrence.starts_at > now,
                EventOccurrence.starts_at <= until,
            )
        )
    ).all():
        found.append(Upcoming(codes[mid], title, str(kind).replace("_", " "), when))
    found.sort(key=lambda u: (u.due_at, u.module_code, u.title))
    return found

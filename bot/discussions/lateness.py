"""Whether a recorded post is late: the prompt's close and each student's approved extension.

The recorder, an early close and the answer form judge ``late`` here. One comparison is
still elsewhere: ``extensions.grant_extension`` re-judges the student's posts against the new
close itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.db.models import Contribution, DiscussionPrompt, Extension, ExtensionStatus


@dataclass
class CloseTimes:
    """Each prompt's close and each approved extension: what ``late`` is judged against."""

    closes: dict[int, datetime] = field(default_factory=dict)
    extensions: dict[tuple[int, int], datetime] = field(default_factory=dict)


def load_close_times_sync(session: Session, prompt_ids: Iterable[int]) -> CloseTimes:
    ids = sorted(set(prompt_ids))
    found = CloseTimes()
    if not ids:
        return found
    for pid, closes_at in (
        session.execute(
            select(DiscussionPrompt.id, DiscussionPrompt.closes_at).where(
                DiscussionPrompt.id.in_(ids)
            )
        )
    ).all():
        found.closes[pid] = closes_at
    for pid, person_id, due in (
        session.execute(
            select(Extension.prompt_id, Extension.person_id, Extension.new_due_at).where(
                Extension.prompt_id.in_(ids), Extension.status == ExtensionStatus.APPROVED
            )
        )
    ).all():
        key = (int(pid), person_id)
        found.extensions[key] = max(due, found.extensions.get(key, due))
    return found


def is_late(
    created_at: datetime,
    prompt_id: int,
    person_id: int | None,
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
) -> bool:
    return created_at > close_for(prompt_id, person_id, closes, extensions)


def close_for(
    prompt_id: int,
    person_id: int | None,
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
) -> datetime:
    """When a student's posts stop being on time: the prompt's close, or a later extension."""
    close = closes[prompt_id]
    if person_id is not None:
        extended = extensions.get((prompt_id, person_id))
        if extended is not None and extended > close:
            close = extended
    return close


async def load_close_times(session: AsyncSession, prompt_ids: Iterable[int]) -> CloseTimes:
    ids = list(prompt_ids)
    return await session.run_sync(lambda s: load_close_times_sync(s, ids))


async def rejudge_late(session: AsyncSession, prompt: DiscussionPrompt) -> None:
    """Set every recorded post's late flag against the prompt's close and extensions now."""
    times = await load_close_times(session, [prompt.id])
    times.closes[prompt.id] = prompt.closes_at
    contributions = (
        (await session.execute(select(Contribution).where(Contribution.prompt_id == prompt.id)))
        .scalars()
        .all()
    )
    for contribution in contributions:
        contribution.late = is_late(
            contribution.created_at,
            prompt.id,
            contribution.person_id,
            times.closes,
            times.extensions,
        )


async def student_close(
    session: AsyncSession, prompt: DiscussionPrompt, person_id: int
) -> datetime:
    """When one student's answers stop being on time: the close, or a later approved extension."""
    extension = (
        await session.execute(
            select(func.max(Extension.new_due_at)).where(
                Extension.prompt_id == prompt.id,
                Extension.person_id == person_id,
                Extension.status == ExtensionStatus.APPROVED,
            )
        )
    ).scalar_one_or_none()
    return max(prompt.closes_at, extension) if extension is not None else prompt.closes_at

"""Whether a recorded post is late: the prompt's close and each student's extension.

The recorder, an early close, an extension and the answer form judge ``late`` here, by the one
rule of ``bot.due`` (the student's latest approved extension, when it ends after the close;
late means strictly after).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot import due
from bot.db.models import Contribution, DiscussionPrompt


@dataclass
class CloseTimes:
    """Each prompt's close and each extension that applies: what ``late`` is judged against."""

    closes: dict[int, datetime] = field(default_factory=dict)
    #: (prompt, person) -> the end of the extension that applies to them.
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
    grants = due.load_grants_sync(session, [(due.ItemKind.PROMPT, pid) for pid in ids])
    for (_kind, pid, person_id), until in grants.extensions(due.ItemKind.PROMPT).items():
        found.extensions[(pid, person_id)] = until
    return found


def is_late(
    created_at: datetime,
    prompt_id: int,
    person_id: int | None,
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
) -> bool:
    return due.is_late(created_at, close_for(prompt_id, person_id, closes, extensions))


def close_for(
    prompt_id: int,
    person_id: int | None,
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
) -> datetime:
    """When a student's posts stop being on time: the prompt's close, or their extension's end."""
    close = closes[prompt_id]
    if person_id is None:
        return close
    return due.extended_due(close, extensions.get((prompt_id, person_id)))


async def load_close_times(session: AsyncSession, prompt_ids: Iterable[int]) -> CloseTimes:
    ids = list(prompt_ids)
    return await session.run_sync(lambda s: load_close_times_sync(s, ids))


async def rejudge_late(
    session: AsyncSession, prompt: DiscussionPrompt, person_id: int | None = None
) -> None:
    """Set recorded posts' late flags (everyone's, or one student's) against the prompt's
    close and extensions now."""
    times = await load_close_times(session, [prompt.id])
    times.closes[prompt.id] = prompt.closes_at
    query = select(Contribution).where(Contribution.prompt_id == prompt.id)
    if person_id is not None:
        query = query.where(Contribution.person_id == person_id)
    for contribution in (await session.execute(query)).scalars().all():
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
    """When one student's answers stop being on time: the close, or their extension's end."""
    return (await due.due_for(session, due.prompt_item(prompt), person_id)).due_at

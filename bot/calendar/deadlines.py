"""Assessment deadlines: adding one, and telling students once feedback is released.

A deadline is an instant (stored UTC). A person's time zone decides how times are shown and
when a DM would wake them, never when something is due, so changing zone gains no time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, module_by_code, require_staff
from bot.calendar import messages as M
from bot.calendar import planning as P
from bot.calendar.inputs import _offsets_in_words, _title
from bot.calendar.lookups import _deadline_occurrence, _event
from bot.calendar.notices import DEADLINE_OFFSETS
from bot.db.models import (
    CalendarEvent,
    Cohort,
    EventKind,
    EventOccurrence,
    Module,
    Notice,
    NoticeAudience,
)
from bot.errors import UserError
from bot.timeparse import discord_timestamp, parse_instant, parse_offsets, user_input

DEADLINE_KINDS = {
    "submission_deadline": EventKind.SUBMISSION_DEADLINE,
    "marking_period_end": EventKind.MARKING_PERIOD_END,
    "feedback_return": EventKind.FEEDBACK_RETURN,
}


@dataclass(frozen=True)
class DeadlineCreated:
    event_id: int
    module_code: str
    kind: EventKind
    title: str
    due_at: datetime
    offsets: str
    notices: int
    audience: str
    next_due_at: datetime | None

    def render(self) -> str:
        label = M.KIND_LABELS[self.kind.value]
        return (
            f"{label} #{self.event_id} **{self.title}** ({self.module_code}): "
            f"{discord_timestamp(self.due_at)} ({discord_timestamp(self.due_at, 'R')}).\n"
            f"{self.notices} notice(s) scheduled ({self.offsets} before) for {self.audience}."
        )


async def add_deadline(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    kind: str,
    title: str,
    due: str,
    now: datetime,
    offsets: str | None = None,
) -> DeadlineCreated:
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    event_kind = DEADLINE_KINDS.get(kind)
    if event_kind is None:
        raise UserError("Kind must be submission_deadline, marking_period_end or feedback_return.")
    clean_title = _title(title)
    with user_input():
        due_at = parse_instant(due, cohort.timezone, now=now)
        notice_offsets = parse_offsets(offsets) if offsets else list(DEADLINE_OFFSETS)
    event = CalendarEvent(
        module_id=module.id,
        kind=event_kind,
        title=clean_title,
        starts_at=due_at,
        timezone=cohort.timezone,
        notice_offsets=[int(o.total_seconds()) for o in notice_offsets],
        created_by_id=caller.person.id,
        created_at=now,
    )
    session.add(event)
    await session.flush()
    occ = EventOccurrence(
        event_id=event.id, sequence=1, starts_at=due_at, ends_at=due_at, original_starts_at=due_at
    )
    session.add(occ)
    await session.flush()
    planner = P.Planner()
    if event_kind is EventKind.SUBMISSION_DEADLINE:
        planner.add(P.plan_deadline_channel(event, module, occ, now=now))
        audience = f"the {module.code} channel"
    else:
        tutors = await P.module_tutors(session, module.id)
        for tutor in tutors:
            planner.add(
                P.plan_deadline_person(
                    event, module, occ, tutor, now=now, audience=NoticeAudience.TUTORS
                )
            )
        audience = f"the {len(tutors)} tutor(s) of {module.code} by DM"
    await planner.flush(session)
    return DeadlineCreated(
        event_id=event.id,
        module_code=module.code,
        kind=event_kind,
        title=clean_title,
        due_at=due_at,
        offsets=_offsets_in_words(notice_offsets),
        notices=len(planner.rows),
        audience=audience,
        next_due_at=planner.earliest,
    )


@dataclass(frozen=True)
class FeedbackReleased:
    title: str
    module_code: str
    next_due_at: datetime | None

    def render(self) -> str:
        return (
            f"Students of {self.module_code} will be told that feedback on **{self.title}** has "
            "been released."
        )


async def announce_feedback(
    session: AsyncSession, event: CalendarEvent, module: Module, *, now: datetime
) -> datetime | None:
    """Tell the module's students once; for the gradebook to call when it releases marks too."""
    occ = await _deadline_occurrence(session, event)
    await P.cancel_pending(session, occurrence_ids=[occ.id], kinds=[M.DEADLINE_NOTICE])
    planner = P.Planner()
    planner.add(
        P.immediate(
            key=f"{M.FEEDBACK_RELEASED}:ev{event.id}",
            kind=M.FEEDBACK_RELEASED,
            audience=NoticeAudience.CHANNEL,
            module_id=module.id,
            now=now,
            occurrence_id=occ.id,
            payload={"title": event.title, "module": module.code, "event_id": event.id},
        )
    )
    added = await planner.flush(session)
    return planner.earliest if added else None


async def feedback_released(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, event_id: int, now: datetime
) -> FeedbackReleased:
    event, module = await _event(
        session, cohort.id, event_id, {EventKind.FEEDBACK_RETURN}, "feedback return item"
    )
    require_staff(caller, module)
    told = (
        await session.execute(
            select(Notice.created_at).where(
                Notice.dedupe_key == f"{M.FEEDBACK_RELEASED}:ev{event.id}"
            )
        )
    ).scalar()
    if told is not None:
        raise UserError(f"Students were already told about {event.title}; nothing changed.")
    due = await announce_feedback(session, event, module, now=now)
    return FeedbackReleased(event.title, module.code, due)

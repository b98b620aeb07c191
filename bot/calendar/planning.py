"""Turning calendar facts into notice rows, and withdrawing rows that no longer apply.

Inserts go through ``insert_ignore`` on ``dedupe_key``: planning the same thing twice (a retried
command, two processes) schedules it once. Rows are never deleted: withdrawn ones become
``cancelled``, so the record of what was owed and what was sent stays complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import roster_people
from bot.calendar import messages as M
from bot.calendar.notices import (
    PlannedNotice,
    QuietHours,
    plan_deadline_notices,
    plan_tutorial_reminders,
    shift_for_quiet_hours,
)
from bot.db.models import (
    CalendarEvent,
    EventOccurrence,
    Module,
    Notice,
    NoticeAudience,
    NoticeStatus,
    Person,
    Role,
    Rsvp,
    RsvpResponse,
)
from bot.db.ops import insert_ignore

#: Each tutorial session gets its own card (RSVP and check-in buttons) this long before it.
CARD_LEAD = timedelta(days=7)


@dataclass(frozen=True)
class NoticeRow:
    dedupe_key: str
    group_key: str
    kind: str
    audience: NoticeAudience
    due_at: datetime
    module_id: int
    useful_until: datetime | None = None
    occurrence_id: int | None = None
    person_id: int | None = None
    channel_id: str | None = None
    payload: dict[str, Any] | None = None


class Planner:
    """Collects the rows one command plans, then schedules them in one go."""

    def __init__(self) -> None:
        self.rows: list[NoticeRow] = []

    def add(self, rows: NoticeRow | Iterable[NoticeRow]) -> None:
        if isinstance(rows, NoticeRow):
            self.rows.append(rows)
        else:
            self.rows.extend(rows)

    @property
    def earliest(self) -> datetime | None:
        """When the dispatcher must next wake for these rows."""
        return min((r.due_at for r in self.rows), default=None)

    async def flush(self, session: AsyncSession) -> int:
        added = await insert_notices(session, self.rows)
        return added


async def insert_notices(session: AsyncSession, rows: Sequence[NoticeRow]) -> int:
    """Schedule rows; those already scheduled (same dedupe key) are left as they are.

    A key withdrawn earlier (``cancelled``) and planned again (a tutorial moved away and back)
    is revived with its new due time, so re-planning never silently loses a notice.
    """
    if not rows:
        return 0
    values = [
        {
            "dedupe_key": r.dedupe_key,
            "group_key": r.group_key,
            "kind": r.kind,
            "audience": r.audience,
            "due_at": r.due_at,
            "useful_until": r.useful_until,
            "module_id": r.module_id,
            "occurrence_id": r.occurrence_id,
            "person_id": r.person_id,
            "channel_id": r.channel_id,
            "payload": r.payload or {},
            "status": NoticeStatus.PENDING,
            "attempts": 0,
            "late": False,
        }
        for r in rows
    ]
    added = await insert_ignore(session, Notice, values, conflict=["dedupe_key"])
    if added < len(rows):
        by_key = {r.dedupe_key: r for r in rows}
        revived = (
            await session.scalars(
                select(Notice).where(
                    Notice.dedupe_key.in_(sorted(by_key)),
                    Notice.status == NoticeStatus.CANCELLED,
                )
            )
        ).all()
        for notice in revived:
            row = by_key[notice.dedupe_key]
            notice.status = NoticeStatus.PENDING
            notice.due_at = row.due_at
            notice.payload = row.payload or {}
            notice.retry_at = None
            added += 1
        await session.flush()
    return added


def person_zone(person: Person, cohort_zone: str) -> str:
    """The zone of a person's wall clock: their own if they set one, else their cohort's.

    Quiet hours and the calendar file both ask this, so "22:00" means the same to both.
    """
    return person.timezone or cohort_zone


def quiet_hours_of(person: Person, cohort_zone: str) -> QuietHours | None:
    if person.quiet_start is None or person.quiet_end is None:
        return None
    return QuietHours(person.quiet_start, person.quiet_end, person_zone(person, cohort_zone))


def _from_plan(
    plan: PlannedNotice,
    *,
    audience: NoticeAudience,
    module_id: int,
    occurrence_id: int | None,
    person_id: int | None,
    payload: dict[str, Any],
) -> NoticeRow:
    return NoticeRow(
        dedupe_key=plan.dedupe_key,
        group_key=plan.group,
        kind=plan.kind,
        audience=audience,
        due_at=plan.due_at,
        useful_until=plan.useful_until,
        module_id=module_id,
        occurrence_id=occurrence_id,
        person_id=person_id,
        payload={
            **payload,
            "item_at": plan.item_at.isoformat(),
            "nominal_due_at": plan.nominal_due_at.isoformat(),
            "offset_s": int(plan.offset.total_seconds()),
        },
    )


def _rows(
    plans: Sequence[PlannedNotice],
    audience: NoticeAudience,
    module: Module,
    occ: EventOccurrence,
    person: Person | None,
    payload: dict[str, Any],
) -> list[NoticeRow]:
    """One row per planned notice about one occurrence, for one audience."""
    return [
        _from_plan(
            p,
            audience=audience,
            module_id=module.id,
            occurrence_id=occ.id,
            person_id=person.id if person is not None else None,
            payload=payload,
        )
        for p in plans
    ]


def offsets_of(event: CalendarEvent) -> list[timedelta]:
    return [timedelta(seconds=int(s)) for s in event.notice_offsets]


def tutorial_payload(event: CalendarEvent, module: Module, occ: EventOccurrence) -> dict[str, Any]:
    return {
        "title": event.title,
        "module": module.code,
        "join_url": event.join_url,
        "occurrence_id": occ.id,
        "event_id": event.id,
        "sequence": occ.sequence,
    }


def plan_card(
    event: CalendarEvent, module: Module, occ: EventOccurrence, *, now: datetime
) -> NoticeRow:
    key = f"{M.TUTORIAL_CARD}:occ{occ.id}:{int(occ.starts_at.timestamp())}"
    return NoticeRow(
        dedupe_key=key,
        group_key=key,
        kind=M.TUTORIAL_CARD,
        audience=NoticeAudience.CHANNEL,
        due_at=max(now, occ.starts_at - CARD_LEAD),
        useful_until=occ.ends_at,
        module_id=module.id,
        occurrence_id=occ.id,
        payload=tutorial_payload(event, module, occ),
    )


def plan_channel_reminders(
    event: CalendarEvent, module: Module, occ: EventOccurrence, *, now: datetime
) -> list[NoticeRow]:
    plans = plan_tutorial_reminders(
        occ.starts_at,
        occ.ends_at,
        item_key=f"occ{occ.id}",
        audience_key="channel",
        offsets=offsets_of(event),
        not_before=now,
    )
    payload = tutorial_payload(event, module, occ)
    return _rows(plans, NoticeAudience.CHANNEL, module, occ, None, payload)


def plan_personal_reminders(
    event: CalendarEvent,
    module: Module,
    occ: EventOccurrence,
    person: Person,
    *,
    now: datetime,
) -> list[NoticeRow]:
    plans = plan_tutorial_reminders(
        occ.starts_at,
        occ.ends_at,
        item_key=f"occ{occ.id}",
        audience_key=f"p{person.id}",
        offsets=offsets_of(event),
        quiet=quiet_hours_of(person, event.timezone),
        not_before=now,
    )
    payload = tutorial_payload(event, module, occ)
    return _rows(plans, NoticeAudience.PERSON, module, occ, person, payload)


def deadline_payload(event: CalendarEvent, module: Module) -> dict[str, Any]:
    return {
        "title": event.title,
        "module": module.code,
        "event_id": event.id,
        "event_kind": event.kind.value,
    }


def plan_deadline_channel(
    event: CalendarEvent, module: Module, occ: EventOccurrence, *, now: datetime
) -> list[NoticeRow]:
    plans = plan_deadline_notices(
        occ.starts_at,
        item_key=f"ev{event.id}",
        audience_key="channel",
        offsets=offsets_of(event),
        not_before=now,
    )
    payload = deadline_payload(event, module)
    return _rows(plans, NoticeAudience.CHANNEL, module, occ, None, payload)


def plan_deadline_person(
    event: CalendarEvent,
    module: Module,
    occ: EventOccurrence,
    person: Person,
    *,
    now: datetime,
    audience: NoticeAudience,
    extended_due_at: datetime | None = None,
) -> list[NoticeRow]:
    plans = plan_deadline_notices(
        occ.starts_at,
        item_key=f"ev{event.id}",
        audience_key=f"p{person.id}",
        offsets=offsets_of(event),
        extended_due_at=extended_due_at,
        quiet=quiet_hours_of(person, event.timezone),
        not_before=now,
    )
    payload = {**deadline_payload(event, module), "extended": extended_due_at is not None}
    return _rows(plans, audience, module, occ, person, payload)


def immediate(
    *,
    key: str,
    kind: str,
    audience: NoticeAudience,
    module_id: int,
    now: datetime,
    payload: dict[str, Any],
    person_id: int | None = None,
    occurrence_id: int | None = None,
    useful_until: datetime | None = None,
) -> NoticeRow:
    """A notice due now (a decision, a change): sent by the engine so it is sent exactly once."""
    return NoticeRow(
        dedupe_key=key,
        group_key=key,
        kind=kind,
        audience=audience,
        due_at=now,
        useful_until=useful_until,
        module_id=module_id,
        occurrence_id=occurrence_id,
        person_id=person_id,
        payload=payload,
    )


async def cancel_pending(
    session: AsyncSession,
    *,
    occurrence_ids: Iterable[int],
    kinds: Iterable[str] | None = None,
    person_id: int | None = None,
    audience: NoticeAudience | None = None,
) -> int:
    """Withdraw pending notices (claimed ones are mid-send and are left to finish)."""
    ids = sorted(set(occurrence_ids))
    if not ids:
        return 0
    stmt = update(Notice).where(
        Notice.occurrence_id.in_(ids), Notice.status == NoticeStatus.PENDING
    )
    if kinds is not None:
        stmt = stmt.where(Notice.kind.in_(sorted(set(kinds))))
    if person_id is not None:
        stmt = stmt.where(Notice.person_id == person_id)
    if audience is not None:
        stmt = stmt.where(Notice.audience == audience)
    result = await session.execute(stmt.values(status=NoticeStatus.CANCELLED).returning(Notice.id))
    return len(result.all())


async def module_tutors(session: AsyncSession, module_id: int) -> list[Person]:
    """The module's tutors (programme admins are not sent every module's notices)."""
    tutors = roster_people(module_id, Role.TUTOR).order_by(Person.id)
    return list((await session.scalars(tutors)).all())


async def going_people(session: AsyncSession, occurrence_id: int) -> list[Person]:
    return list(
        (
            await session.scalars(
                select(Person)
                .join(Rsvp, Rsvp.person_id == Person.id)
                .where(Rsvp.occurrence_id == occurrence_id, Rsvp.response == RsvpResponse.GOING)
                .order_by(Person.id)
            )
        ).all()
    )


async def reshift_personal(session: AsyncSession, person: Person, cohort_zone: str) -> int:
    """After a change of zone or quiet hours: move the person's pending DMs accordingly."""
    quiet = quiet_hours_of(person, cohort_zone)
    rows = (
        await session.scalars(
            select(Notice).where(
                Notice.person_id == person.id,
                Notice.status == NoticeStatus.PENDING,
                Notice.kind.in_(sorted(M.REMINDER_KINDS)),
            )
        )
    ).all()
    moved = 0
    for notice in rows:
        nominal = notice.payload.get("nominal_due_at")
        item = notice.payload.get("item_at")
        if not isinstance(nominal, str) or not isinstance(item, str):
            continue
        due = shift_for_quiet_hours(
            datetime.fromisoformat(nominal), quiet, datetime.fromisoformat(item)
        )
        if due != notice.due_at:
            notice.due_at = due
            moved += 1
    await session.flush()
    return moved

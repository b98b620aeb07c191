"""Tutorial attendance: RSVPs, check-in and the attendance report a tutor reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, require_staff, require_student
from bot.calendar import messages as M
from bot.calendar import planning as P
from bot.calendar.lookups import _event, _occurrence, _occurrences
from bot.db.models import (
    Attendance,
    CalendarEvent,
    Cohort,
    EventKind,
    EventOccurrence,
    LedgerSource,
    Module,
    OccurrenceStatus,
    Person,
    Rsvp,
    RsvpResponse,
)
from bot.db.ops import insert_ignore
from bot.due import is_late, reached
from bot.errors import NotFound, UserError
from bot.gradebook.ledger import Credit, credit
from bot.timeparse import discord_timestamp

#: Check-in opens this long before a session starts (people join early) and closes at its end.
CHECKIN_EARLY = timedelta(minutes=10)


@dataclass(frozen=True)
class RsvpResult:
    response: RsvpResponse
    title: str
    starts_at: datetime
    going: int
    next_due_at: datetime | None

    def render(self) -> str:
        words = {
            RsvpResponse.GOING: "You're going to",
            RsvpResponse.MAYBE: "You might come to",
            RsvpResponse.NOT_GOING: "You're not going to",
        }[self.response]
        text = f"{words} **{self.title}** on {discord_timestamp(self.starts_at)}."
        if self.response is RsvpResponse.GOING:
            text += " I'll remind you by DM before it starts (unless you turned DM reminders off)."
        return text + f" {self.going} going so far."


async def _student_session(
    session: AsyncSession, caller: Caller, occurrence_id: int, act: str
) -> tuple[EventOccurrence, CalendarEvent, Module]:
    """The session a student answers or checks in to: in their module and not cancelled."""
    occ, event, module = await _occurrence(session, caller.cohort_id, occurrence_id)
    require_student(caller, module)
    if occ.status is OccurrenceStatus.CANCELLED:
        raise UserError(f"This session was cancelled, so there is nothing to {act}.")
    return occ, event, module


async def _add_once(
    session: AsyncSession,
    model: type[Rsvp] | type[Attendance],
    occ: EventOccurrence,
    person: Person,
    conflict: list[str],
    **values: object,
) -> int:
    """This person's row at this session, unless ``conflict`` finds one (then 0: not added)."""
    row = {"occurrence_id": occ.id, "person_id": person.id, **values}
    return await insert_ignore(session, model, [row], conflict=conflict)


async def rsvp(
    session: AsyncSession,
    caller: Caller,
    *,
    occurrence_id: int,
    response: RsvpResponse,
    now: datetime,
) -> RsvpResult:
    occ, event, module = await _student_session(session, caller, occurrence_id, "answer")
    if reached(occ.ends_at, now):
        raise UserError("This session is over; answers are for upcoming sessions.")
    person = caller.person
    added = await _add_once(
        session,
        Rsvp,
        occ,
        person,
        ["occurrence_id", "person_id"],
        response=response,
        updated_at=now,
    )
    if not added:
        await session.execute(
            update(Rsvp)
            .where(Rsvp.occurrence_id == occ.id, Rsvp.person_id == person.id)
            .values(response=response, updated_at=now)
        )
    planner = P.Planner()
    if response is RsvpResponse.GOING:
        planner.add(P.plan_personal_reminders(event, module, occ, person, now=now))
        await planner.flush(session)
    else:
        await P.cancel_pending(
            session,
            occurrence_ids=[occ.id],
            kinds=[M.TUTORIAL_REMINDER],
            person_id=person.id,
        )
    going = (
        await session.execute(
            select(func.count())
            .select_from(Rsvp)
            .where(Rsvp.occurrence_id == occ.id, Rsvp.response == RsvpResponse.GOING)
        )
    ).scalar_one()
    return RsvpResult(response, event.title, occ.starts_at, int(going), planner.earliest)


@dataclass(frozen=True)
class CheckInResult:
    title: str
    starts_at: datetime
    already: bool

    def render(self) -> str:
        if self.already:
            return f"You had already checked in to **{self.title}**; it counts once."
        return f"Checked in to **{self.title}**. Your attendance is recorded."


async def check_in(
    session: AsyncSession,
    caller: Caller,
    *,
    occurrence_id: int,
    now: datetime,
    source_ref: str,
) -> CheckInResult:
    """Attendance while the session runs (from 10 minutes before), credited to the ledger once."""
    occ, event, module = await _student_session(session, caller, occurrence_id, "check in to")
    opens = occ.starts_at - CHECKIN_EARLY
    if not reached(opens, now):
        raise UserError(
            f"Check-in opens {discord_timestamp(opens)} ({discord_timestamp(opens, 'R')}), "
            "10 minutes before the session starts."
        )
    if is_late(now, occ.ends_at):
        raise UserError(
            f"Check-in closed when the session ended at {discord_timestamp(occ.ends_at)}."
        )
    person = caller.person
    added = await _add_once(
        session,
        Attendance,
        occ,
        person,
        ["idempotency_key"],
        checked_in_at=now,
        idempotency_key=f"attendance:occ{occ.id}:p{person.id}",
    )
    await credit(
        session,
        [
            Credit(
                idempotency_key=f"tutorial:{occ.id}:{person.id}:attendance",
                module_id=module.id,
                person_id=person.id,
                source=LedgerSource.TUTORIAL_ATTENDANCE,
                item_type="tutorial",
                item_id=occ.id,
                source_ref=source_ref[:200],
                points=Decimal(1),
                occurred_at=now,
            )
        ],
    )
    return CheckInResult(event.title, occ.starts_at, already=not added)


@dataclass(frozen=True)
class AttendanceReport:
    event_id: int
    title: str
    module_code: str
    sequence: int
    total: int
    starts_at: datetime
    cancelled: bool
    attended: list[str]
    going: list[str]
    maybe: list[str]
    not_going: list[str]

    def render(self) -> str:
        state = " (cancelled)" if self.cancelled else ""
        lines = [
            f"**{self.title}** ({self.module_code}) #{self.event_id}, session {self.sequence} of "
            f"{self.total}, {discord_timestamp(self.starts_at)}{state}",
            f"Checked in ({len(self.attended)}): {', '.join(self.attended) or 'nobody yet'}",
            f"Going ({len(self.going)}): {', '.join(self.going) or '-'}",
            f"Maybe ({len(self.maybe)}): {', '.join(self.maybe) or '-'}",
            f"Not going ({len(self.not_going)}): {', '.join(self.not_going) or '-'}",
        ]
        absent = [n for n in self.going if n not in self.attended]
        if absent and self.attended:
            lines.append(f"Said going but did not check in: {', '.join(absent)}")
        return "\n".join(lines)


async def attendance(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    event_id: int,
    now: datetime,
    sequence: int | None = None,
) -> AttendanceReport:
    """Per session: who checked in and who answered what. Default: the latest session started."""
    event, module = await _event(session, cohort.id, event_id, {EventKind.TUTORIAL}, "tutorial")
    require_staff(caller, module)
    occurrences = await _occurrences(session, event.id)
    if sequence is None:
        started = [o for o in occurrences if reached(o.starts_at, now)]
        occ = started[-1] if started else occurrences[0]
    else:
        found = next((o for o in occurrences if o.sequence == sequence), None)
        if found is None:
            raise NotFound(
                f"Tutorial #{event_id} has sessions 1 to {len(occurrences)}; there is no "
                f"session {sequence}."
            )
        occ = found
    attended = [
        name
        for (name,) in (
            await session.execute(
                select(Person.display_name)
                .join(Attendance, Attendance.person_id == Person.id)
                .where(Attendance.occurrence_id == occ.id)
                .order_by(Person.display_name)
            )
        ).all()
    ]
    answers: dict[RsvpResponse, list[str]] = {r: [] for r in RsvpResponse}
    for name, response in (
        await session.execute(
            select(Person.display_name, Rsvp.response)
            .join(Rsvp, Rsvp.person_id == Person.id)
            .where(Rsvp.occurrence_id == occ.id)
            .order_by(Person.display_name)
        )
    ).all():
        answers[RsvpResponse(response)].append(name)
    return AttendanceReport(
        event_id=event.id,
        title=event.title,
        module_code=module.code,
        sequence=occ.sequence,
        total=len(occurrences),
        starts_at=occ.starts_at,
        cancelled=occ.status is OccurrenceStatus.CANCELLED,
        attended=attended,
        going=answers[RsvpResponse.GOING],
        maybe=answers[RsvpResponse.MAYBE],
        not_going=answers[RsvpResponse.NOT_GOING],
    )

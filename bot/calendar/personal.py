"""What a person sees and sets for themselves: upcoming items, zone, reminders, calendar feed.

Zone and quiet hours change how things are *shown* and when a DM may wake someone; they never
move a deadline (a deadline is an instant, so switching to a zone further west gains nothing).
The calendar feed URL carries an unguessable token (256 random bits); resetting it revokes
the old address at once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller
from bot.calendar import planning as P
from bot.calendar.extensions import effective_due
from bot.calendar.ics import IcsDeadline, IcsOccurrence, IcsTutorial, build_calendar
from bot.calendar.messages import KIND_LABELS
from bot.db.models import (
    CalendarEvent,
    Cohort,
    Enrolment,
    EnrolmentStatus,
    EventKind,
    EventOccurrence,
    Module,
    OccurrenceStatus,
    Person,
    Role,
    Rsvp,
)
from bot.due import is_late
from bot.errors import UserError, shown
from bot.timeparse import discord_timestamp, get_zone, user_input

UPCOMING_DAYS = 28
UPCOMING_LIMIT = 12
FEED_PATH = "/calendar/{token}.ics"
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
STUDENT_DEADLINES = (EventKind.SUBMISSION_DEADLINE, EventKind.FEEDBACK_RETURN)
STAFF_DEADLINES = (*STUDENT_DEADLINES, EventKind.MARKING_PERIOD_END)


@dataclass(frozen=True)
class UpcomingDeadline:
    event_id: int
    module_code: str
    kind: EventKind
    title: str
    due_at: datetime
    was_at: datetime | None


@dataclass(frozen=True)
class UpcomingTutorial:
    event_id: int
    occurrence_id: int
    module_code: str
    title: str
    sequence: int
    starts_at: datetime
    minutes: int
    join_url: str | None
    answer: str | None


@dataclass(frozen=True)
class Upcoming:
    zone: str | None
    days: int
    deadlines: list[UpcomingDeadline] = field(default_factory=list)
    tutorials: list[UpcomingTutorial] = field(default_factory=list)
    more: int = 0

    def render(self) -> str:
        lines = [f"**Your next {self.days} days** (times show in your own time zone)"]
        lines.append("__Deadlines__")
        if not self.deadlines:
            lines.append("nothing due")
        for d in self.deadlines:
            label = "due" if d.kind is EventKind.SUBMISSION_DEADLINE else KIND_LABELS[d.kind.value]
            line = (
                f"• {discord_timestamp(d.due_at)} ({discord_timestamp(d.due_at, 'R')}) "
                f"{d.module_code} **{d.title}** [{label}, #{d.event_id}]"
            )
            if d.was_at is not None:
                line += f" (extended for you; was {discord_timestamp(d.was_at)})"
            lines.append(line)
        lines.append("__Tutorials__")
        if not self.tutorials:
            lines.append("none scheduled")
        for t in self.tutorials:
            line = (
                f"• {discord_timestamp(t.starts_at)} ({discord_timestamp(t.starts_at, 'R')}) "
                f"{t.module_code} **{t.title}**, {t.minutes} min [#{t.event_id} session "
                f"{t.sequence}]"
            )
            if t.answer:
                line += f" · you: {t.answer.replace('_', ' ')}"
            lines.append(line)
        if self.more:
            lines.append(f"… and {self.more} more; see `/calendar ics` for everything.")
        if self.zone:
            lines.append(f"Your zone for DMs and calendar files: {self.zone}.")
        return "\n".join(lines)


async def _modules(
    session: AsyncSession, person_id: int, cohort_id: int
) -> dict[int, tuple[Module, Role]]:
    """The person's modules in the cohort (active enrolments) and their role in each."""
    rows = (
        await session.execute(
            select(Module, Enrolment.role)
            .join(Enrolment, Enrolment.module_id == Module.id)
            .where(
                Enrolment.person_id == person_id,
                Enrolment.status == EnrolmentStatus.ACTIVE,
                Module.cohort_id == cohort_id,
            )
        )
    ).all()
    return {module.id: (module, role) for module, role in rows}


async def upcoming(
    session: AsyncSession, caller: Caller, *, now: datetime, days: int = UPCOMING_DAYS
) -> Upcoming:
    """Deadlines (with the caller's extensions applied) and tutorials in the next ``days``."""
    modules = await _modules(session, caller.person.id, caller.cohort_id)
    horizon = now + timedelta(days=days)
    person = caller.person
    deadlines: list[UpcomingDeadline] = []
    events = (
        await session.scalars(
            select(CalendarEvent)
            .where(
                CalendarEvent.module_id.in_(sorted(modules)),
                CalendarEvent.kind.in_(list(STAFF_DEADLINES)),
            )
            .order_by(CalendarEvent.starts_at)
        )
    ).all()
    for event in events:
        module, role = modules[event.module_id]
        staff = role in (Role.TUTOR, Role.ADMIN)
        if not staff and event.kind not in STUDENT_DEADLINES:
            continue
        due_at, extension = await effective_due(session, event, person.id)
        if not is_late(now, due_at) and due_at <= horizon:
            deadlines.append(
                UpcomingDeadline(
                    event.id,
                    module.code,
                    event.kind,
                    event.title,
                    due_at,
                    event.starts_at if extension is not None else None,
                )
            )
    deadlines.sort(key=lambda d: (d.due_at, d.event_id))
    rows = (
        await session.execute(
            select(EventOccurrence, CalendarEvent, Rsvp.response)
            .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
            .outerjoin(
                Rsvp,
                (Rsvp.occurrence_id == EventOccurrence.id) & (Rsvp.person_id == person.id),
            )
            .where(
                CalendarEvent.module_id.in_(sorted(modules)),
                CalendarEvent.kind == EventKind.TUTORIAL,
                EventOccurrence.status == OccurrenceStatus.SCHEDULED,
                EventOccurrence.ends_at >= now,
                EventOccurrence.starts_at <= horizon,
            )
            .order_by(EventOccurrence.starts_at, EventOccurrence.id)
        )
    ).all()
    tutorials = [
        UpcomingTutorial(
            event.id,
            occ.id,
            modules[event.module_id][0].code,
            event.title,
            occ.sequence,
            occ.starts_at,
            int((occ.ends_at - occ.starts_at).total_seconds() // 60),
            event.join_url,
            response.value if response is not None else None,
        )
        for occ, event, response in rows
    ]
    more = max(0, len(deadlines) - UPCOMING_LIMIT) + max(0, len(tutorials) - UPCOMING_LIMIT)
    return Upcoming(
        person.timezone,
        days,
        deadlines[:UPCOMING_LIMIT],
        tutorials[:UPCOMING_LIMIT],
        more,
    )


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SettingChanged:
    text: str


async def _cohort_zone(session: AsyncSession, caller: Caller) -> str:
    """The caller's cohort's zone: what their wall clock is taken to be until they set one."""
    cohort = await session.get(Cohort, caller.cohort_id)
    assert cohort is not None
    return cohort.timezone


async def set_timezone(session: AsyncSession, caller: Caller, *, zone: str) -> SettingChanged:
    with user_input():
        name = get_zone(zone).key
    person = caller.person
    person.timezone = name
    moved = await P.reshift_personal(session, person, await _cohort_zone(session, caller))
    extra = f" {moved} pending reminder(s) moved to respect your quiet hours." if moved else ""
    return SettingChanged(
        f"Your time zone is now {name}: DMs and your calendar file use it. Deadlines do not "
        f"move: they are fixed instants, shown in your local time.{extra}"
    )


async def set_reminders(session: AsyncSession, caller: Caller, *, enabled: bool) -> SettingChanged:
    caller.person.dm_reminders = enabled
    await session.flush()
    if enabled:
        return SettingChanged(
            "DM reminders are on: I will DM you before tutorials you are going to and before "
            "your extended deadlines."
        )
    return SettingChanged(
        "DM reminders are off. Class-wide notices still appear in module channels, and "
        "decisions about your extensions still come by DM."
    )


def _clock(text: str, what: str) -> time:
    match = _CLOCK.match(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise UserError(
            f"Could not read {shown(text, 20)} as the {what} time; use 24-hour HH:MM, e.g. 22:00."
        )
    return time(int(match[1]), int(match[2]))


async def set_quiet_hours(
    session: AsyncSession, caller: Caller, *, start: str | None, end: str | None
) -> SettingChanged:
    """Both times set the window; neither clears it. DMs due inside wait until it ends."""
    person = caller.person
    if not start and not end:
        person.quiet_start = None
        person.quiet_end = None
        await P.reshift_personal(session, person, await _cohort_zone(session, caller))
        return SettingChanged("Quiet hours are off: DM reminders come at their due time.")
    if not start or not end:
        raise UserError("Give both a start and an end, e.g. start 22:00 end 07:00.")
    begin, finish = _clock(start, "start"), _clock(end, "end")
    if begin == finish:
        raise UserError("Quiet hours must start and end at different times, e.g. 22:00 to 07:00.")
    person.quiet_start, person.quiet_end = begin, finish
    cohort_zone = await _cohort_zone(session, caller)
    moved = await P.reshift_personal(session, person, cohort_zone)
    zone = P.person_zone(person, cohort_zone)
    hint = (
        ""
        if person.timezone
        else " That is the cohort's zone; set your own with `/calendar timezone`."
    )
    return SettingChanged(
        f"Quiet hours {begin:%H:%M}–{finish:%H:%M} ({zone}): a DM reminder due then comes when "
        f"they end, unless that is after the thing it reminds you of.{hint}"
        + (f" {moved} pending reminder(s) moved." if moved else "")
    )


# --------------------------------------------------------------------------- calendar file


@dataclass(frozen=True)
class CalendarFile:
    filename: str
    data: bytes
    url: str
    zone: str
    events: int

    def render(self) -> str:
        return (
            f"Your calendar ({self.events} events, times in {self.zone}) is attached. To "
            f"subscribe instead, add this address to your calendar app:\n<{self.url}>\n"
            "Keep it private: anyone with it can read your calendar. `/calendar reset-feed` "
            "revokes it and gives you a new one."
        )


def feed_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + FEED_PATH.format(token=token)


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def _ics_for(
    session: AsyncSession, person: Person, cohort: Cohort, now: datetime
) -> tuple[bytes, str, int]:
    modules = await _modules(session, person.id, cohort.id)
    events = (
        await session.scalars(
            select(CalendarEvent)
            .where(CalendarEvent.module_id.in_(sorted(modules)))
            .order_by(CalendarEvent.id)
        )
    ).all()
    tutorial_ids = [e.id for e in events if e.kind is EventKind.TUTORIAL]
    occurrences: dict[int, list[EventOccurrence]] = {}
    if tutorial_ids:
        for occ in (
            await session.scalars(
                select(EventOccurrence)
                .where(EventOccurrence.event_id.in_(tutorial_ids))
                .order_by(EventOccurrence.sequence)
            )
        ).all():
            occurrences.setdefault(occ.event_id, []).append(occ)
    tutorials: list[IcsTutorial] = []
    deadlines: list[IcsDeadline] = []
    for event in events:
        module, role = modules[event.module_id]
        staff = role in (Role.TUTOR, Role.ADMIN)
        if event.kind is EventKind.TUTORIAL:
            tutorials.append(
                IcsTutorial(
                    uid=f"tutorial-{event.id}",
                    title=f"{module.code} tutorial: {event.title}",
                    occurrences=[
                        IcsOccurrence(
                            o.sequence,
                            o.starts_at,
                            o.ends_at,
                            cancelled=o.status is OccurrenceStatus.CANCELLED,
                        )
                        for o in occurrences.get(event.id, [])
                    ],
                    description=f"{module.code} {module.title}",
                    url=event.join_url,
                    alarm_before=timedelta(minutes=15),
                )
            )
            continue
        if not staff and event.kind not in STUDENT_DEADLINES:
            continue
        due_at, extension = await effective_due(session, event, person.id)
        label = KIND_LABELS[event.kind.value]
        note = " (your extension)" if extension is not None else ""
        deadlines.append(
            IcsDeadline(
                uid=f"deadline-{event.id}",
                title=f"{module.code} {event.title}{note}",
                due_at=due_at,
                description=f"{label}, {module.code} {module.title}",
            )
        )
    zone = P.person_zone(person, cohort.timezone)
    data = build_calendar(
        uid=f"person-{person.id}",
        name=f"{cohort.code} — {person.display_name}",
        zone=zone,
        tutorials=tutorials,
        deadlines=deadlines,
        stamp=now,
    )
    count = sum(len(t.occurrences) for t in tutorials) + len(deadlines)
    return data, zone, count


async def calendar_file(
    session: AsyncSession, caller: Caller, cohort: Cohort, *, now: datetime, public_url: str
) -> CalendarFile:
    person = caller.person
    if person.calendar_token is None:
        person.calendar_token = new_token()
        await session.flush()
    data, zone, count = await _ics_for(session, person, cohort, now)
    return CalendarFile(
        filename=f"{cohort.code.lower()}-calendar.ics",
        data=data,
        url=feed_url(public_url, person.calendar_token),
        zone=zone,
        events=count,
    )


async def reset_feed(session: AsyncSession, caller: Caller, *, public_url: str) -> SettingChanged:
    caller.person.calendar_token = new_token()
    await session.flush()
    return SettingChanged(
        "Your old calendar address no longer works. Your new one (keep it private):\n"
        f"<{feed_url(public_url, caller.person.calendar_token)}>"
    )


async def feed_for_token(session: AsyncSession, token: str, *, now: datetime) -> bytes | None:
    """The feed behind a token, or None (unknown or revoked token, erased person)."""
    if not token or len(token) > 64:
        return None
    person = (
        await session.execute(
            select(Person).where(Person.calendar_token == token, Person.erased_at.is_(None))
        )
    ).scalar_one_or_none()
    if person is None:
        return None
    cohort = (
        await session.execute(
            select(Cohort)
            .join(Module, Module.cohort_id == Cohort.id)
            .join(Enrolment, Enrolment.module_id == Module.id)
            .where(Enrolment.person_id == person.id)
            .order_by(Cohort.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if cohort is None:
        return None
    data, _, _ = await _ics_for(session, person, cohort, now)
    return data

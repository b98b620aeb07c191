"""Tutorials: scheduling, moving and cancelling sessions (with their cards and reminders)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, module_by_code, require_staff
from bot.calendar import messages as M
from bot.calendar import planning as P
from bot.calendar.inputs import (
    _URL,
    _offsets_in_words,
    _title,
    _until,
)
from bot.calendar.lookups import _event, _occurrences
from bot.calendar.notices import TUTORIAL_OFFSETS
from bot.calendar.recurrence import expand_occurrences, in_gap
from bot.db.models import (
    CalendarEvent,
    Cohort,
    EventKind,
    EventOccurrence,
    Module,
    Notice,
    NoticeAudience,
    NoticeStatus,
    OccurrenceStatus,
    Recurrence,
)
from bot.due import reached
from bot.errors import NotFound, UserError
from bot.timeparse import (
    discord_timestamp,
    end_of_local_day,
    get_zone,
    localize,
    parse_instant,
    parse_offsets,
    parse_span,
    typed_wall_time,
    user_input,
)

MAX_TUTORIAL_LENGTH = timedelta(hours=12)


@dataclass(frozen=True)
class TutorialCreated:
    event_id: int
    module_code: str
    title: str
    starts: list[datetime]
    minutes: int
    recurrence: str
    reminders: str
    shifted: list[int]
    next_due_at: datetime | None

    def render(self) -> str:
        first = self.starts[0]
        lines = [
            f"Tutorial #{self.event_id} **{self.title}** ({self.module_code}) scheduled: "
            f"{discord_timestamp(first)}, {self.minutes} min."
        ]
        if len(self.starts) > 1:
            lines.append(
                f"{self.recurrence.capitalize()}, {len(self.starts)} sessions, the last on "
                f"{discord_timestamp(self.starts[-1], 'D')}."
            )
        lines.append(
            f"Reminders {self.reminders} before each session; each session's card (with RSVP "
            "and check-in buttons) is posted in the module channel a week ahead."
        )
        if self.shifted:
            lines.append(gap_note(self.shifted))
        return "\n".join(lines)


def gap_note(sequences: list[int]) -> str:
    """Tells the tutor which sessions the clocks skipped over, and so start later that day."""
    if len(sequences) == 1:
        return (
            f"Note: session {sequences[0]} falls in a clock change gap (that local time does "
            "not exist that day), so it starts an hour later."
        )
    return (
        "Note: sessions "
        + ", ".join(str(s) for s in sequences)
        + " fall in a clock change gap and start an hour later that day."
    )


async def add_tutorial(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    module_code: str,
    title: str,
    start: str,
    duration: str,
    now: datetime,
    join_url: str | None = None,
    repeat: str = "none",
    until: str | None = None,
    reminders: str | None = None,
) -> TutorialCreated:
    module = await module_by_code(session, cohort.id, module_code)
    require_staff(caller, module)
    clean_title = _title(title)
    zone = cohort.timezone
    if repeat not in ("none", "weekly", "fortnightly"):
        raise UserError("Repeat must be none, weekly or fortnightly.")
    if join_url is not None:
        join_url = join_url.strip()
        if not _URL.match(join_url) or len(join_url) > 500:
            raise UserError("The join link must be a web address starting with https://.")
    with user_input():
        starts_at, ends_at = parse_span(start, duration, zone, now=now)
        offsets = parse_offsets(reminders) if reminders else list(TUTORIAL_OFFSETS)
    if ends_at - starts_at > MAX_TUTORIAL_LENGTH:
        raise UserError("A tutorial can last at most 12 hours; check the duration or end time.")
    last_day: date | None = None
    if until is not None and until.strip():
        if repeat == "none":
            raise UserError(
                "An end date only applies to a repeating tutorial; choose weekly or "
                "fortnightly, or leave the end date out."
            )
        last_day = _until(until)
    with user_input():
        occurrences = expand_occurrences(
            starts_at,
            ends_at - starts_at,
            zone,
            repeat,
            last_day,
            wall=typed_wall_time(start, zone),
        )

    event = CalendarEvent(
        module_id=module.id,
        kind=EventKind.TUTORIAL,
        title=clean_title,
        starts_at=starts_at,
        duration_minutes=int((ends_at - starts_at).total_seconds() // 60),
        join_url=join_url,
        recurrence=Recurrence(repeat),
        recurrence_until=end_of_local_day(last_day, zone) if last_day else None,
        timezone=zone,
        notice_offsets=[int(o.total_seconds()) for o in offsets],
        created_by_id=caller.person.id,
        created_at=now,
    )
    session.add(event)
    await session.flush()
    rows = [
        EventOccurrence(
            event_id=event.id,
            sequence=o.sequence,
            starts_at=o.starts_at,
            ends_at=o.ends_at,
            original_starts_at=o.starts_at,
        )
        for o in occurrences
    ]
    session.add_all(rows)
    await session.flush()
    planner = P.Planner()
    for occ in rows:
        planner.add(P.plan_card(event, module, occ, now=now))
        planner.add(P.plan_channel_reminders(event, module, occ, now=now))
    await planner.flush(session)
    return TutorialCreated(
        event_id=event.id,
        module_code=module.code,
        title=clean_title,
        starts=[o.starts_at for o in occurrences],
        minutes=event.duration_minutes or 0,
        recurrence=repeat,
        reminders=_offsets_in_words(offsets),
        shifted=[o.sequence for o in occurrences if o.wall_time_shifted],
        next_due_at=planner.earliest,
    )


@dataclass(frozen=True)
class TutorialChanged:
    event_id: int
    title: str
    module_code: str
    changed: list[tuple[int, datetime, datetime | None]]  # sequence, old start, new start
    told: int
    next_due_at: datetime | None
    cancelled: bool = False
    shifted: tuple[int, ...] = ()

    def render(self) -> str:
        verb = "Cancelled" if self.cancelled else "Moved"
        lines = [f"{verb} {len(self.changed)} session(s) of #{self.event_id} **{self.title}**:"]
        for seq, old, new in self.changed[:10]:
            if new is None:
                lines.append(f"• session {seq}: {discord_timestamp(old)} cancelled")
            else:
                lines.append(
                    f"• session {seq}: {discord_timestamp(old)} → {discord_timestamp(new)}"
                )
        if len(self.changed) > 10:
            lines.append(f"… and {len(self.changed) - 10} more.")
        lines.append(f"{self.told} student(s) who said they are going will be told by DM.")
        if self.shifted:
            lines.append(gap_note(list(self.shifted)))
        return "\n".join(lines)


def _pick(
    occurrences: list[EventOccurrence], sequence: int | None, now: datetime, event_id: int
) -> list[EventOccurrence]:
    live = [
        o
        for o in occurrences
        if o.status is OccurrenceStatus.SCHEDULED and not reached(o.ends_at, now)
    ]
    if sequence is None:
        if not live:
            raise UserError(f"Tutorial #{event_id} has no upcoming sessions left to change.")
        return live
    chosen = next((o for o in occurrences if o.sequence == sequence), None)
    if chosen is None:
        raise NotFound(
            f"Tutorial #{event_id} has sessions 1 to {len(occurrences)}; there is no session "
            f"{sequence}."
        )
    if chosen.status is OccurrenceStatus.CANCELLED:
        raise UserError(f"Session {sequence} of tutorial #{event_id} is already cancelled.")
    if reached(chosen.ends_at, now):
        raise UserError(f"Session {sequence} of tutorial #{event_id} has already taken place.")
    return [chosen]


async def _card_was_posted(session: AsyncSession, occ: EventOccurrence) -> int | None:
    """The card notice's id if the card is out (or being sent), so it is edited, not re-posted."""
    return (
        await session.execute(
            select(Notice.id).where(
                Notice.occurrence_id == occ.id,
                Notice.kind == M.TUTORIAL_CARD,
                Notice.status.in_([NoticeStatus.SENT, NoticeStatus.CLAIMED]),
            )
        )
    ).scalar()


async def _after_change(
    session: AsyncSession,
    planner: P.Planner,
    event: CalendarEvent,
    module: Module,
    occ: EventOccurrence,
    *,
    old_start: datetime,
    now: datetime,
    cancelled: bool,
) -> int:
    """Withdraw what no longer applies, re-plan, edit the card, tell who is going."""
    await P.cancel_pending(session, occurrence_ids=[occ.id])
    card_notice = await _card_was_posted(session, occ)
    stamp = int(now.timestamp())
    if card_notice is not None:
        planner.add(
            P.immediate(
                key=f"{M.TUTORIAL_CARD_EDIT}:occ{occ.id}:{int(occ.starts_at.timestamp())}"
                f":{occ.status.value}:{stamp}",
                kind=M.TUTORIAL_CARD_EDIT,
                audience=NoticeAudience.CHANNEL,
                module_id=module.id,
                now=now,
                occurrence_id=occ.id,
                payload={"card_notice_id": card_notice},
            )
        )
    elif not cancelled:
        planner.add(P.plan_card(event, module, occ, now=now))
    going = await P.going_people(session, occ.id)
    if not cancelled:
        planner.add(P.plan_channel_reminders(event, module, occ, now=now))
        for person in going:
            planner.add(P.plan_personal_reminders(event, module, occ, person, now=now))
    for person in going:
        payload = {
            "title": event.title,
            "module": module.code,
            "change": "cancelled" if cancelled else "moved",
            "old_at": old_start.isoformat(),
            "new_at": occ.starts_at.isoformat(),
        }
        planner.add(
            P.immediate(
                key=f"{M.TUTORIAL_CHANGED}:occ{occ.id}:p{person.id}:"
                f"{int(occ.starts_at.timestamp())}:{payload['change']}:{stamp}",
                kind=M.TUTORIAL_CHANGED,
                audience=NoticeAudience.PERSON,
                module_id=module.id,
                now=now,
                person_id=person.id,
                occurrence_id=occ.id,
                payload=payload,
                useful_until=max(occ.ends_at, old_start),
            )
        )
    return len(going)


async def move_tutorial(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    event_id: int,
    start: str,
    now: datetime,
    sequence: int | None = None,
) -> TutorialChanged:
    """Move one session, or (no ``sequence``) every upcoming one by the same wall-clock shift.

    The series shift is applied to local wall times, so a series moved from 18:00 to 19:00
    stays at 19:00 local on both sides of a clock change.
    """
    event, module = await _event(session, cohort.id, event_id, {EventKind.TUTORIAL}, "tutorial")
    require_staff(caller, module)
    if event.cancelled_at is not None:
        raise UserError(f"Tutorial #{event_id} was cancelled; schedule a new one instead.")
    with user_input():
        new_start = parse_instant(start, event.timezone, now=now)
        typed = typed_wall_time(start, event.timezone)
    chosen = _pick(await _occurrences(session, event.id), sequence, now, event_id)
    tz = get_zone(event.timezone)
    target = typed if typed is not None else new_start.astimezone(tz).replace(tzinfo=None)
    shift = target - chosen[0].starts_at.astimezone(tz).replace(tzinfo=None)
    planner = P.Planner()
    changed: list[tuple[int, datetime, datetime | None]] = []
    shifted: list[int] = []
    told = 0
    for occ in chosen:
        length = occ.ends_at - occ.starts_at
        old = occ.starts_at
        if occ is chosen[0]:
            wall, moved_to = target, new_start
        else:
            wall = occ.starts_at.astimezone(tz).replace(tzinfo=None) + shift
            moved_to = localize(wall, tz)
        if in_gap(wall, tz):
            shifted.append(occ.sequence)
        if moved_to < now:
            raise UserError(
                f"That would move session {occ.sequence} into the past "
                f"({discord_timestamp(moved_to)}); give a later time."
            )
        occ.starts_at = moved_to
        occ.ends_at = moved_to + length
        await session.flush()
        told += await _after_change(
            session, planner, event, module, occ, old_start=old, now=now, cancelled=False
        )
        changed.append((occ.sequence, old, moved_to))
    if chosen[0].sequence == 1:
        event.starts_at = chosen[0].starts_at
    await planner.flush(session)
    return TutorialChanged(
        event.id,
        event.title,
        module.code,
        changed,
        told,
        planner.earliest,
        shifted=tuple(shifted),
    )


async def cancel_tutorial(
    session: AsyncSession,
    caller: Caller,
    cohort: Cohort,
    *,
    event_id: int,
    now: datetime,
    sequence: int | None = None,
) -> TutorialChanged:
    """Cancel one session, or (no ``sequence``) every upcoming session of the series."""
    event, module = await _event(session, cohort.id, event_id, {EventKind.TUTORIAL}, "tutorial")
    require_staff(caller, module)
    if event.cancelled_at is not None:
        raise UserError(f"Tutorial #{event_id} is already cancelled.")
    chosen = _pick(await _occurrences(session, event.id), sequence, now, event_id)
    planner = P.Planner()
    told = 0
    changed: list[tuple[int, datetime, datetime | None]] = []
    for occ in chosen:
        occ.status = OccurrenceStatus.CANCELLED
        await session.flush()
        told += await _after_change(
            session, planner, event, module, occ, old_start=occ.starts_at, now=now, cancelled=True
        )
        changed.append((occ.sequence, occ.starts_at, None))
    if sequence is None:
        event.cancelled_at = now
    await planner.flush(session)
    return TutorialChanged(
        event.id, event.title, module.code, changed, told, planner.earliest, cancelled=True
    )

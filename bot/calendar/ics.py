"""A person's calendar feed (iCalendar) of their tutorials and deadlines.

Each tutorial occurrence is its own VEVENT rather than one RRULE with EXDATEs. The bot already
stores materialised occurrences, and a single one can be moved or cancelled; as separate events
every client shows exactly the instants the bot's notices use, with no client-side expansion
across clock changes to disagree with, and a change to one occurrence replaces just that event
(its UID is stable: series UID plus sequence). Cancelled occurrences stay in the feed with
``STATUS:CANCELLED`` so a subscribed client marks them instead of silently dropping them.

Times are written in the person's zone with a VTIMEZONE (and ``X-WR-TIMEZONE`` for clients
that read only that), so the feed shows their local times; the instants are the stored ones.
Deadlines are zero-length, transparent events at the due instant (so they block no time),
optionally with a display alarm.

Output is deterministic for the same input and ``stamp``, so feeds can be cached and compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import STATUS, TRANSP, Alarm, Calendar, Event, vDuration

from bot.timeparse import ZoneLike, get_zone

__all__ = ["IcsDeadline", "IcsOccurrence", "IcsTutorial", "build_calendar"]

PRODID = "-//cohortbot//calendar feed//EN"
REFRESH = timedelta(hours=1)
_TZ_MARGIN = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class IcsOccurrence:
    sequence: int
    starts_at: datetime
    ends_at: datetime
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class IcsTutorial:
    """A tutorial series; ``uid`` is stable for the series (e.g. ``tutorial-42``)."""

    uid: str
    title: str
    occurrences: Sequence[IcsOccurrence]
    description: str = ""
    url: str | None = None
    alarm_before: timedelta | None = None


@dataclass(frozen=True, slots=True)
class IcsDeadline:
    """One assessment instant; ``uid`` is stable for the item (e.g. ``deadline-7``)."""

    uid: str
    title: str
    due_at: datetime
    description: str = ""
    url: str | None = None
    alarm_before: timedelta | None = timedelta(hours=24)


def build_calendar(
    *,
    uid: str,
    name: str,
    zone: ZoneLike,
    tutorials: Sequence[IcsTutorial] = (),
    deadlines: Sequence[IcsDeadline] = (),
    stamp: datetime | None = None,
    uid_domain: str = "cohortbot",
    include_cancelled: bool = True,
) -> bytes:
    """The ICS bytes of one person's feed, times shown in ``zone`` (their own, or the cohort's).

    ``uid`` identifies the feed (e.g. ``person-12``). ``stamp`` is the DTSTAMP of every event;
    give it (for instance the newest change time) to get byte-identical output for unchanged
    data, otherwise the current time is used.
    """
    tz = get_zone(zone)
    if stamp is None:
        stamp = datetime.now(UTC)
    elif stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError(f"naive stamp {stamp!r} refused: pass an aware datetime")
    stamp = stamp.astimezone(UTC)

    cal = Calendar.new(name=name, prodid=PRODID, uid=f"{uid}@{uid_domain}")
    cal.add("X-WR-TIMEZONE", tz.key)
    cal.add("REFRESH-INTERVAL", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(REFRESH))

    instants: list[datetime] = [stamp]
    for tutorial in tutorials:
        for occ in sorted(tutorial.occurrences, key=lambda o: o.sequence):
            if occ.cancelled and not include_cancelled:
                continue
            _require_aware(occ.starts_at)
            _require_aware(occ.ends_at)
            event = Event.new(
                uid=f"{tutorial.uid}-{occ.sequence}@{uid_domain}",
                summary=f"Cancelled: {tutorial.title}" if occ.cancelled else tutorial.title,
                start=occ.starts_at.astimezone(tz),
                end=occ.ends_at.astimezone(tz),
                stamp=stamp,
                description=tutorial.description or None,
                url=tutorial.url,
                location=tutorial.url,
                status=STATUS.CANCELLED if occ.cancelled else STATUS.CONFIRMED,
            )
            if tutorial.alarm_before is not None and not occ.cancelled:
                event.add_component(_alarm(tutorial.title, tutorial.alarm_before))
            cal.add_component(event)
            instants += [occ.starts_at, occ.ends_at]

    for deadline in sorted(deadlines, key=lambda d: (d.due_at, d.uid)):
        _require_aware(deadline.due_at)
        event = Event.new(
            uid=f"{deadline.uid}@{uid_domain}",
            summary=f"Due: {deadline.title}",
            start=deadline.due_at.astimezone(tz),
            stamp=stamp,
            description=deadline.description or None,
            url=deadline.url,
            transparency=TRANSP.TRANSPARENT,
        )
        if deadline.alarm_before is not None:
            event.add_component(_alarm(deadline.title, deadline.alarm_before))
        cal.add_component(event)
        instants.append(deadline.due_at)

    first, last = _date_span(instants)
    cal.add_missing_timezones(first_date=first, last_date=last)
    data: bytes = cal.to_ical()
    return data


def _alarm(title: str, before: timedelta) -> Alarm:
    if before < timedelta(0):
        raise ValueError(f"alarm offset {before!r} must not be negative")
    alarm = Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", title)
    alarm.add("TRIGGER", -before)
    return alarm


def _date_span(instants: list[datetime]) -> tuple[date, date]:
    """VTIMEZONE rules only for the years the feed covers, keeping the file small."""
    first = min(instants).astimezone(UTC) - _TZ_MARGIN
    last = max(instants).astimezone(UTC) + _TZ_MARGIN
    return first.date(), last.date()


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r} refused: pass an aware datetime")

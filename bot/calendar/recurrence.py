"""Tutorial series: which instants a weekly or fortnightly tutorial actually happens at.

A series is defined by wall-clock time in the cohort's zone, not by a fixed UTC interval: a
tutorial at 18:00 Europe/London is at 18:00 for the people in London in both GMT and BST, so
it moves by an hour in UTC across the March and October changes. Steps are therefore taken in
local calendar days and each local time is converted to UTC on its own.

Clock-change edge cases follow the RFC 5545 rule documented in ``bot.timeparse``:

- a wall time inside the spring-forward gap (01:30 in London on the last Sunday of March) is
  moved forward by the gap (to 02:30 BST) and the occurrence is flagged ``wall_time_shifted``
  so the service can tell the tutor; the next week is back at 01:30;
- a wall time inside the autumn fold happens twice; the first (summer-time) one is used.

Calendar clients apply the same rule to a TZID-ed DTSTART, so the ICS feed agrees with us.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.timeparse import (
    CalendarInputError,
    WallTime,
    ZoneLike,
    classify_wall_time,
    get_zone,
    localize,
)

__all__ = [
    "MAX_OCCURRENCES",
    "RECURRENCES",
    "Occurrence",
    "expand_occurrences",
    "in_gap",
]

#: Days between occurrences for each recurrence the models allow (``bot.db.models.Recurrence``
#: values; a ``StrEnum`` member is accepted as its string).
RECURRENCES: dict[str, int | None] = {"none": None, "weekly": 7, "fortnightly": 14}

#: Enough for four years of weekly tutorials; more is a typo in the end date, and each
#: occurrence becomes rows and notices.
MAX_OCCURRENCES = 200


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One materialised meeting of a series (``sequence`` counts from 1)."""

    sequence: int
    starts_at: datetime
    ends_at: datetime
    wall_time_shifted: bool = False


def expand_occurrences(
    starts_at: datetime,
    duration: timedelta,
    zone: ZoneLike,
    recurrence: str = "none",
    until: date | None = None,
    *,
    wall: datetime | None = None,
    max_occurrences: int = MAX_OCCURRENCES,
) -> list[Occurrence]:
    """Every occurrence of a series, in order, with aware UTC start and end.

    ``starts_at`` is the first occurrence; its wall time in ``zone`` is the series' wall time.
    ``until`` is the last local date that may hold an occurrence (inclusive); an aware datetime
    is converted to its local date in ``zone``. A repeating series without ``until`` is refused
    so no series runs forever. ``duration`` is elapsed time, so a 60-minute tutorial that spans
    a clock change still lasts 60 minutes. ``wall`` is the local start time as typed, when it
    was: it is the series' wall time even if it falls in a gap on the first day (that first
    session is then flagged like any later one, and the next week is back at the typed time).
    """
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise ValueError(f"naive starts_at {starts_at!r} refused: pass an aware datetime")
    if recurrence not in RECURRENCES:
        raise ValueError(f"unknown recurrence {recurrence!r}; expected one of {list(RECURRENCES)}")
    if duration < timedelta(0):
        raise CalendarInputError("A tutorial cannot end before it starts; give a positive length.")
    tz = get_zone(zone)
    first = starts_at.astimezone(UTC)
    if wall is None or localize(wall, tz) != first:
        wall = first.astimezone(tz).replace(tzinfo=None, fold=0)
    first_shifted = in_gap(wall, tz)
    step_days = RECURRENCES[recurrence]
    if step_days is None:
        return [Occurrence(1, first, first + duration, first_shifted)]

    if until is None:
        raise CalendarInputError(
            f"A {recurrence} tutorial needs an end date; add one, e.g. until 2026-12-15."
        )
    last_day = _local_date(until, tz)
    if last_day < wall.date():
        raise CalendarInputError(
            f"The end date {last_day.isoformat()} is before the first tutorial on "
            f"{wall.date().isoformat()}; give a later end date."
        )
    count = (last_day - wall.date()).days // step_days + 1
    if count > max_occurrences:
        raise CalendarInputError(
            f"Until {last_day.isoformat()} that is {count} tutorials; the most one series can "
            f"hold is {max_occurrences}, so give an earlier end date."
        )

    occurrences = [Occurrence(1, first, first + duration, first_shifted)]
    for index in range(1, count):
        local = wall + timedelta(days=index * step_days)
        start = localize(local, tz)
        occurrences.append(Occurrence(index + 1, start, start + duration, in_gap(local, tz)))
    return occurrences


def in_gap(wall: datetime, tz: ZoneLike) -> bool:
    """A wall time the clocks skip: ``localize`` moves it forward by the gap."""
    return classify_wall_time(wall, tz) is WallTime.NONEXISTENT


def _local_date(until: date, tz: ZoneLike) -> date:
    if isinstance(until, datetime):
        if until.tzinfo is None or until.utcoffset() is None:
            raise ValueError(f"naive until {until!r} refused: pass a date or an aware datetime")
        return until.astimezone(get_zone(tz)).date()
    return until

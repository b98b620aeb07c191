"""Weekly availability: intervals in a student's own zone -> UTC half-hour slots of a week.

Pure (no I/O). A student says when they are free in their own wall-clock time ("weekday
evenings 19:00-23:00"); teams need times that hold for *everyone in every week of the term*, so
the intervals are turned into UTC slots for each of the term's weeks (each week computed from
the zone, so daylight-saving changes on different dates in different zones are honoured) and a
slot counts only if it is free in all of them. Slots are half hours (so India's +05:30 keeps
whole evenings); a set of slots is an ``int`` bitmask, which makes the overlap of a team one
``&`` and a ``bit_count``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.errors import UserError, shown

SLOT_MINUTES = 30
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
ALL_SLOTS = (1 << SLOTS_PER_WEEK) - 1
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class AvailabilityError(UserError):
    """Availability text that cannot be read; the sentence says what to write instead."""


@dataclass(frozen=True, order=True)
class Interval:
    """Free time on one weekday (0 = Monday), in minutes after local midnight; end may be 1440."""

    weekday: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or not 0 <= self.start < self.end <= 24 * 60:
            raise AvailabilityError(f"{self} is not a time span within one day.")

    def __str__(self) -> str:
        return f"{DAY_NAMES[self.weekday]} {_hhmm(self.start)}–{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _days(first: int, last: int, start: str, end: str) -> tuple[Interval, ...]:
    s, e = _minutes(start), _minutes(end)
    return tuple(Interval(d, s, e) for d in range(first, last + 1))


def _minutes(text: str) -> int:
    hh, _, mm = text.partition(":")
    return int(hh) * 60 + int(mm or 0)


#: Evenings and weekends in the student's own zone, until they say otherwise.
DEFAULT_INTERVALS: tuple[Interval, ...] = _days(0, 4, "19:00", "23:00") + _days(
    5, 6, "10:00", "18:00"
)

_DAY_WORDS = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_GROUPS = {"weekdays": (0, 4), "weekday": (0, 4), "weekends": (5, 6), "weekend": (5, 6)}
_TIME = r"(\d{1,2})(?::(\d{2}))?"
_PART = re.compile(
    rf"^\s*(?P<days>[a-z]+(?:\s*-\s*[a-z]+)?)\s+{_TIME}\s*[-–]\s*{_TIME}\s*$", re.IGNORECASE
)
EXAMPLE = "Mon-Fri 19:00-23:00; Sat 09:00-17:00"


def _day_range(word: str) -> tuple[int, int] | None:
    w = word.lower().replace(" ", "")
    if w in _GROUPS:
        return _GROUPS[w]
    first, _, last = w.partition("-")
    a = _DAY_WORDS.get(first[:3]) if first else None
    b = _DAY_WORDS.get(last[:3]) if last else a
    if a is None or b is None or b < a:
        return None
    return a, b


def parse_intervals(text: str) -> tuple[Interval, ...]:
    """Read "Mon-Fri 19:00-23:00; Sat 09:00-17:00" (``;``, ``,`` or new lines between parts).

    "weekdays"/"weekends" name day groups; an end of 24:00 means midnight. Overlapping parts
    are merged. Refused in one sentence naming the part that could not be read.
    """
    out: list[Interval] = []
    for part in re.split(r"[;,\n]", text):
        if not part.strip():
            continue
        m = _PART.match(part)
        days = _day_range(m.group("days")) if m else None
        if m is None or days is None:
            raise AvailabilityError(
                f"Could not read {shown(part.strip())}; write days and times like {EXAMPLE}."
            )
        h1, m1, h2, m2 = (int(g) if g else 0 for g in m.groups()[1:])
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or end > 24 * 60 or end <= start:
            raise AvailabilityError(
                f"{shown(part.strip())} is not a time span within one day "
                "(the end must come after the start, at most 24:00)."
            )
        out.extend(Interval(d, start, end) for d in range(days[0], days[1] + 1))
    if not out:
        raise AvailabilityError(f"Give at least one time you are free, like {EXAMPLE}.")
    return merge(out)


def merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, with overlapping or touching spans on the same day joined."""
    merged: list[Interval] = []
    for iv in sorted(intervals):
        last = merged[-1] if merged else None
        if last and last.weekday == iv.weekday and iv.start <= last.end:
            merged[-1] = Interval(last.weekday, last.start, max(last.end, iv.end))
        else:
            merged.append(iv)
    return tuple(merged)


def describe(intervals: Sequence[Interval]) -> str:
    """The intervals as the student would type them, one day per part."""
    return "; ".join(str(iv) for iv in intervals)


def encode(intervals: Sequence[Interval]) -> list[list[int]]:
    """A JSON-friendly form for the database."""
    return [[iv.weekday, iv.start, iv.end] for iv in intervals]


def decode(rows: Iterable[Sequence[int]]) -> tuple[Interval, ...]:
    return tuple(Interval(int(d), int(s), int(e)) for d, s, e in rows)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week: the reference weeks are UTC Monday-to-Sunday."""
    return day - timedelta(days=day.weekday())


def term_weeks(start: date, end: date) -> tuple[date, ...]:
    """The Mondays of the weeks from ``start`` to ``end`` (at least one week)."""
    first = week_start(start)
    weeks = [first]
    while weeks[-1] + timedelta(days=7) <= end:
        weeks.append(weeks[-1] + timedelta(days=7))
    return tuple(weeks)


def _slots_in_week(intervals: tuple[Interval, ...], zone: ZoneInfo, monday: date) -> int:
    """Slots of the UTC week starting ``monday`` 00:00 UTC whose whole half hour is free."""
    base = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    by_day: dict[int, list[Interval]] = {}
    for iv in intervals:
        by_day.setdefault(iv.weekday, []).append(iv)
    mask = 0
    for k in range(SLOTS_PER_WEEK):
        local = (base + timedelta(minutes=k * SLOT_MINUTES)).astimezone(zone)
        minute = local.hour * 60 + local.minute
        for iv in by_day.get(local.weekday(), ()):
            if iv.start <= minute and minute + SLOT_MINUTES <= iv.end:
                mask |= 1 << k
                break
    return mask


@lru_cache(maxsize=4096)
def _weekly_slots(intervals: tuple[Interval, ...], zone_name: str, weeks: tuple[date, ...]) -> int:
    zone = ZoneInfo(zone_name)
    mask = ALL_SLOTS
    for monday in weeks:
        mask &= _slots_in_week(intervals, zone, monday)
    return mask


def utc_slots(intervals: Sequence[Interval], zone: str, weeks: Sequence[date]) -> int:
    """Half-hour slots (bit k = Monday 00:00 UTC + k*30 min) free in *every* one of ``weeks``.

    Cached by (intervals, zone, weeks): a cohort has few distinct patterns, so 300 students
    cost a few dozen conversions, not 300.
    """
    if not weeks:
        raise ValueError("utc_slots needs at least one week")
    return _weekly_slots(merge(intervals), zone, tuple(weeks))


def hours(mask: int) -> float:
    """How many hours a slot mask holds."""
    return mask.bit_count() / SLOTS_PER_HOUR


def longest_run(mask: int) -> int:
    """The longest block of consecutive slots, the week wrapping Sunday night into Monday."""
    if mask == ALL_SLOTS:
        return SLOTS_PER_WEEK
    if mask == 0:
        return 0
    gaps = ~mask & ALL_SLOTS
    first_gap = (gaps & -gaps).bit_length() - 1
    # Rotate the week to begin on a gap, so no run is cut by the week's end.
    rotated = ((mask >> first_gap) | (mask << (SLOTS_PER_WEEK - first_gap))) & ALL_SLOTS
    length = 0
    while rotated:  # each step shortens every run by one: as many steps as the longest run
        rotated &= rotated >> 1
        length += 1
    return length


def blocks(mask: int) -> list[tuple[int, int]]:
    """Consecutive runs of slots as (first slot, length), wrapping the week's end."""
    if mask == 0:
        return []
    if mask == ALL_SLOTS:
        return [(0, SLOTS_PER_WEEK)]
    start = next(k for k in range(SLOTS_PER_WEEK) if not mask >> k & 1)  # begin on a gap
    out: list[tuple[int, int]] = []
    run_start = None
    for i in range(1, SLOTS_PER_WEEK + 1):
        k = (start + i) % SLOTS_PER_WEEK
        if mask >> k & 1:
            if run_start is None:
                run_start = k
        elif run_start is not None:
            out.append((run_start, (k - run_start) % SLOTS_PER_WEEK))
            run_start = None
    return sorted(out)


def slot_time(monday: date, slot: int) -> datetime:
    """The UTC start of ``slot`` in the week starting ``monday``."""
    base = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return base + timedelta(minutes=slot * SLOT_MINUTES)


def window(start: int, length: int) -> int:
    """The mask of ``length`` consecutive slots from ``start``, wrapping the week."""
    mask = 0
    for i in range(length):
        mask |= 1 << ((start + i) % SLOTS_PER_WEEK)
    return mask

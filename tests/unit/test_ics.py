"""A student's calendar feed shows the same instants the bot's notices use."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from bot.calendar.ics import IcsDeadline, IcsOccurrence, IcsTutorial, build_calendar
from bot.calendar.recurrence import expand_occurrences
from bot.timeparse import CalendarInputError

LONDON = "Europe/London"
STAMP = datetime(2026, 9, 1, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def london_series(cancelled: frozenset[int] = frozenset()) -> IcsTutorial:
    """Weekly 18:00 London tutorials across the October clock change."""
    series = expand_occurrences(
        utc(2026, 10, 13, 17), timedelta(hours=1), LONDON, "weekly", date(2026, 11, 3)
    )
    return IcsTutorial(
        uid="tutorial-42",
        title="MSc Data Science: live tutorial",
        occurrences=[
            IcsOccurrence(o.sequence, o.starts_at, o.ends_at, o.sequence in cancelled)
            for o in series
        ],
        url="https://meet.example/abc",
    )


ESSAY = IcsDeadline(
    uid="deadline-7",
    title="Essay 1",
    due_at=utc(2026, 12, 2, 11, 59, 59),
    description="Submit via the module channel.",
)


def events(data: bytes) -> list[Event]:
    return [e for e in Calendar.from_ical(data).walk("VEVENT") if isinstance(e, Event)]


def build(
    zone: str = LONDON,
    *,
    tutorials: list[IcsTutorial] | None = None,
    deadlines: list[IcsDeadline] | None = None,
    include_cancelled: bool = True,
) -> bytes:
    return build_calendar(
        uid="person-12",
        name="My MSc",
        zone=zone,
        tutorials=[london_series()] if tutorials is None else tutorials,
        deadlines=[ESSAY] if deadlines is None else deadlines,
        stamp=STAMP,
        include_cancelled=include_cancelled,
    )


def test_round_trip_gives_the_same_instants_and_the_persons_zone() -> None:
    data = build("Asia/Tokyo")
    parsed = events(data)
    tutorial = london_series()
    starts = [e.start for e in parsed]
    assert starts[:4] == [o.starts_at for o in tutorial.occurrences]
    assert [e.end for e in parsed[:4]] == [o.ends_at for o in tutorial.occurrences]
    assert starts[4] == ESSAY.due_at
    for event in parsed:
        assert event.get("DTSTART").params["TZID"] == "Asia/Tokyo"
        assert isinstance(event.start, datetime)
        assert event.start.tzinfo is not None
    calendar = Calendar.from_ical(data)
    assert calendar.get("X-WR-TIMEZONE") == "Asia/Tokyo"
    assert [tz.tz_name for tz in calendar.timezones] == ["Asia/Tokyo"]


def test_dst_series_keeps_local_wall_time_in_the_cohort_zone_and_shifts_elsewhere() -> None:
    in_london = events(build(LONDON))[:4]
    assert [e.start.strftime("%H:%M") for e in in_london] == ["18:00"] * 4
    in_tokyo = events(build("Asia/Tokyo"))[:4]
    assert [e.start.strftime("%d %H:%M") for e in in_tokyo] == [
        "14 02:00",
        "21 02:00",
        "28 03:00",
        "04 03:00",
    ]


def test_the_embedded_vtimezone_alone_gives_the_right_instants() -> None:
    # A client without its own tz database relies only on the VTIMEZONE in the file.
    data = build(LONDON)
    calendar = Calendar.from_ical(data)
    (vtimezone,) = calendar.timezones
    rules_only = vtimezone.to_tz(lookup_tzid=False)
    assert not isinstance(rules_only, ZoneInfo)
    for event, occ in zip(events(data)[:4], london_series().occurrences, strict=True):
        assert isinstance(event.start, datetime)
        wall = event.start.replace(tzinfo=None)
        assert wall.replace(tzinfo=rules_only).astimezone(UTC) == occ.starts_at


def test_uids_are_stable_and_unique_and_output_is_deterministic() -> None:
    first, second = build(), build()
    assert first == second
    uids = [str(e.get("UID")) for e in events(first)]
    assert uids == [
        "tutorial-42-1@cohortbot",
        "tutorial-42-2@cohortbot",
        "tutorial-42-3@cohortbot",
        "tutorial-42-4@cohortbot",
        "deadline-7@cohortbot",
    ]
    assert {e.get("DTSTAMP").dt for e in events(first)} == {STAMP}
    assert Calendar.from_ical(first).get("UID") == "person-12@cohortbot"


def test_a_moved_occurrence_keeps_its_uid() -> None:
    series = london_series()
    moved = list(series.occurrences)
    moved[1] = IcsOccurrence(2, utc(2026, 10, 21, 17), utc(2026, 10, 21, 18))
    data = build(tutorials=[IcsTutorial(series.uid, series.title, moved)])
    (event,) = [e for e in events(data) if str(e.get("UID")) == "tutorial-42-2@cohortbot"]
    assert event.start == utc(2026, 10, 21, 17)


def test_cancelled_occurrences_are_marked_or_left_out() -> None:
    data = build(tutorials=[london_series(cancelled=frozenset({2}))])
    statuses = [str(e.get("STATUS")) for e in events(data)[:4]]
    assert statuses == ["CONFIRMED", "CANCELLED", "CONFIRMED", "CONFIRMED"]
    assert str(events(data)[1].get("SUMMARY")).startswith("Cancelled: ")
    without = build(tutorials=[london_series(cancelled=frozenset({2}))], include_cancelled=False)
    uids = [str(e.get("UID")) for e in events(without)]
    assert "tutorial-42-2@cohortbot" not in uids
    assert len(uids) == 4


def test_deadline_is_a_transparent_instant_with_a_day_before_alarm() -> None:
    (deadline,) = [e for e in events(build()) if str(e.get("UID")) == "deadline-7@cohortbot"]
    assert deadline.start == ESSAY.due_at
    assert deadline.get("DTEND") is None
    assert str(deadline.get("TRANSP")) == "TRANSPARENT"
    assert str(deadline.get("SUMMARY")) == "Due: Essay 1"
    assert str(deadline.get("DESCRIPTION")) == "Submit via the module channel."
    (alarm,) = deadline.walk("VALARM")
    assert alarm.get("TRIGGER").dt == -timedelta(hours=24)
    assert str(alarm.get("ACTION")) == "DISPLAY"


def test_deadline_alarm_can_be_turned_off() -> None:
    quiet = IcsDeadline("deadline-8", "Quiz", utc(2026, 12, 3, 12), alarm_before=None)
    (deadline,) = [e for e in events(build(deadlines=[quiet]))[4:]]
    assert deadline.walk("VALARM") == []


def test_awkward_titles_survive_the_round_trip() -> None:
    title = "Week 3; Q&A, part 1\nbring: notes"
    item = IcsDeadline("deadline-9", title, utc(2026, 12, 3, 12))
    data = build(tutorials=[], deadlines=[item])
    (event,) = events(data)
    assert str(event.get("SUMMARY")) == f"Due: {title}"
    assert b"\nbring" not in data  # an embedded newline cannot start a new content line


def test_feed_in_utc_uses_plain_utc_times() -> None:
    data = build("UTC")
    assert b"DTSTART:20261013T170000Z" in data
    assert Calendar.from_ical(data).get("X-WR-TIMEZONE") == "UTC"


def test_unknown_person_zone_is_a_user_error() -> None:
    with pytest.raises(CalendarInputError, match="Unknown time zone"):
        build("Europe/Lodnon")


def test_naive_stamp_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        build_calendar(uid="p", name="n", zone=LONDON, stamp=datetime(2026, 1, 1))  # noqa: DTZ001


def test_vtimezone_covers_only_the_years_around_the_feed() -> None:
    calendar = Calendar.from_ical(build())
    (vtimezone,) = calendar.timezones
    years: set[int] = set()
    for rule in vtimezone.walk():
        if rule.name in {"STANDARD", "DAYLIGHT"}:
            years.add(rule.get("DTSTART").dt.year)
            for rdates in [rule.get("RDATE")] if rule.get("RDATE") else []:
                years.update(d.dt.year for d in rdates.dts)
    # Events are in Oct-Dec 2026: a year either side, not the 1970-2038 default.
    assert years
    assert min(years) >= 2025
    assert max(years) <= 2027

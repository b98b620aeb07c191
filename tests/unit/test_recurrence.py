"""Tutorial series stay at the same local time for the cohort, whatever the clocks do."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.recurrence import expand_occurrences
from bot.timeparse import CalendarInputError, WallTime, classify_wall_time

LONDON = "Europe/London"
HOUR = timedelta(hours=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local_times(zone: str, instants: list[datetime]) -> list[str]:
    return [i.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") for i in instants]


def test_weekly_1800_london_stays_at_1800_across_the_october_change() -> None:
    first = utc(2026, 10, 13, 17)  # 18:00 BST
    series = expand_occurrences(first, HOUR, LONDON, "weekly", date(2026, 11, 3))
    assert [o.starts_at for o in series] == [
        utc(2026, 10, 13, 17),
        utc(2026, 10, 20, 17),
        utc(2026, 10, 27, 18),  # GMT from 25 October
        utc(2026, 11, 3, 18),
    ]
    assert local_times(LONDON, [o.starts_at for o in series]) == [
        "2026-10-13 18:00",
        "2026-10-20 18:00",
        "2026-10-27 18:00",
        "2026-11-03 18:00",
    ]
    assert [o.sequence for o in series] == [1, 2, 3, 4]
    assert all(o.ends_at - o.starts_at == HOUR for o in series)
    assert all(o.starts_at.tzinfo is UTC for o in series)


def test_weekly_1800_london_stays_at_1800_across_the_march_change() -> None:
    first = utc(2026, 3, 17, 18)  # 18:00 GMT
    series = expand_occurrences(first, HOUR, LONDON, "weekly", date(2026, 4, 7))
    assert [o.starts_at.hour for o in series] == [18, 18, 17, 17]
    assert set(local_times(LONDON, [o.starts_at for o in series])) == {
        "2026-03-17 18:00",
        "2026-03-24 18:00",
        "2026-03-31 18:00",
        "2026-04-07 18:00",
    }


def test_fortnightly_until_is_inclusive_by_local_date() -> None:
    first = utc(2026, 9, 29, 17)
    on_last = expand_occurrences(first, HOUR, LONDON, "fortnightly", date(2026, 11, 24))
    assert local_times(LONDON, [o.starts_at for o in on_last]) == [
        "2026-09-29 18:00",
        "2026-10-13 18:00",
        "2026-10-27 18:00",
        "2026-11-10 18:00",
        "2026-11-24 18:00",
    ]
    day_before = expand_occurrences(first, HOUR, LONDON, "fortnightly", date(2026, 11, 23))
    assert len(day_before) == 4


def test_until_as_an_aware_datetime_uses_its_local_date_in_the_cohort_zone() -> None:
    first = utc(2026, 10, 6, 23)  # Tuesday 19:00 in New York
    # 2026-11-03T02:00Z is still Monday 2 November in New York: the 3 November one is out.
    until = utc(2026, 11, 3, 2)
    series = expand_occurrences(first, HOUR, "America/New_York", "weekly", until)
    assert local_times("America/New_York", [series[-1].starts_at]) == ["2026-10-27 19:00"]


def test_a_single_event_needs_no_end_date() -> None:
    series = expand_occurrences(utc(2026, 12, 1, 18), 2 * HOUR, LONDON)
    assert len(series) == 1
    assert series[0].sequence == 1
    assert series[0].ends_at == utc(2026, 12, 1, 20)


@pytest.mark.parametrize("recurrence", ["weekly", "fortnightly"])
def test_a_repeating_series_without_an_end_is_refused(recurrence: str) -> None:
    with pytest.raises(CalendarInputError) as error:
        expand_occurrences(utc(2026, 12, 1, 18), HOUR, LONDON, recurrence)
    assert str(error.value) == (
        f"A {recurrence} tutorial needs an end date; add one, e.g. until 2026-12-15."
    )


def test_an_end_date_before_the_first_tutorial_is_refused() -> None:
    with pytest.raises(CalendarInputError, match="before the first tutorial on 2026-12-01"):
        expand_occurrences(utc(2026, 12, 1, 18), HOUR, LONDON, "weekly", date(2026, 11, 30))


def test_an_end_date_years_away_is_refused_as_a_likely_typo() -> None:
    with pytest.raises(CalendarInputError, match="the most one series can hold is 200"):
        expand_occurrences(utc(2026, 12, 1, 18), HOUR, LONDON, "weekly", date(2036, 12, 1))


def test_negative_duration_is_refused() -> None:
    with pytest.raises(CalendarInputError, match="cannot end before it starts"):
        expand_occurrences(utc(2026, 12, 1, 18), -HOUR, LONDON)


def test_unknown_zone_is_a_user_error() -> None:
    with pytest.raises(CalendarInputError, match="Unknown time zone"):
        expand_occurrences(utc(2026, 12, 1, 18), HOUR, "Mars/Olympus", "weekly", date(2027, 1, 1))


def test_programming_errors_are_not_user_errors() -> None:
    naive = datetime(2026, 12, 1, 18)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive") as error:
        expand_occurrences(naive, HOUR, LONDON)
    assert not isinstance(error.value, CalendarInputError)
    with pytest.raises(ValueError, match="unknown recurrence"):
        expand_occurrences(utc(2026, 12, 1, 18), HOUR, LONDON, "daily", date(2027, 1, 1))


def test_a_wall_time_in_the_spring_gap_moves_forward_and_is_flagged() -> None:
    first = utc(2026, 3, 22, 1, 30)  # Sunday 01:30 GMT
    series = expand_occurrences(first, HOUR, LONDON, "weekly", date(2026, 4, 5))
    assert [o.starts_at for o in series] == [
        utc(2026, 3, 22, 1, 30),
        utc(2026, 3, 29, 1, 30),  # 01:30 does not exist: 02:30 BST
        utc(2026, 4, 5, 0, 30),  # back to 01:30, now BST
    ]
    assert [o.wall_time_shifted for o in series] == [False, True, False]
    assert local_times(LONDON, [o.starts_at for o in series]) == [
        "2026-03-22 01:30",
        "2026-03-29 02:30",
        "2026-04-05 01:30",
    ]


def test_a_wall_time_in_the_autumn_fold_takes_the_first_of_the_two() -> None:
    first = utc(2026, 10, 18, 0, 30)  # Sunday 01:30 BST
    series = expand_occurrences(first, HOUR, LONDON, "weekly", date(2026, 11, 1))
    assert [o.starts_at for o in series] == [
        utc(2026, 10, 18, 0, 30),
        utc(2026, 10, 25, 0, 30),  # the first 01:30, still BST
        utc(2026, 11, 1, 1, 30),
    ]
    assert not any(o.wall_time_shifted for o in series)


def test_a_first_occurrence_in_the_second_half_of_a_fold_keeps_its_wall_time() -> None:
    first = utc(2026, 10, 25, 1, 30)  # the second 01:30 (GMT)
    series = expand_occurrences(first, HOUR, LONDON, "weekly", date(2026, 11, 1))
    assert series[0].starts_at == first
    assert local_times(LONDON, [o.starts_at for o in series]) == [
        "2026-10-25 01:30",
        "2026-11-01 01:30",
    ]


def test_duration_is_elapsed_time_across_a_clock_change() -> None:
    first = utc(2026, 10, 25, 0, 30)  # 01:30 BST, clocks go back at 02:00 BST
    (only,) = expand_occurrences(first, HOUR, LONDON)
    assert only.ends_at - only.starts_at == HOUR
    assert local_times(LONDON, [only.ends_at]) == ["2026-10-25 01:30"]


ZONES = [
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "America/Santiago",
    "America/Havana",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Beirut",
    "Asia/Tehran",
    "Pacific/Chatham",
    "Asia/Kolkata",
]


@given(
    first=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001
        max_value=datetime(2035, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(ZONES),
    recurrence=st.sampled_from(["weekly", "fortnightly"]),
    span_days=st.integers(min_value=0, max_value=730),
    minutes=st.integers(min_value=0, max_value=240),
)
def test_every_occurrence_is_at_the_series_wall_time_and_in_order(
    first: datetime, zone: str, recurrence: str, span_days: int, minutes: int
) -> None:
    tz = ZoneInfo(zone)
    first_local = first.astimezone(tz)
    until = first_local.date() + timedelta(days=span_days)
    step = 7 if recurrence == "weekly" else 14
    series = expand_occurrences(first, timedelta(minutes=minutes), zone, recurrence, until)

    assert len(series) == span_days // step + 1
    assert [o.sequence for o in series] == list(range(1, len(series) + 1))
    assert all(a.starts_at < b.starts_at for a, b in itertools.pairwise(series))
    wall = first_local.replace(tzinfo=None, fold=0)
    for index, occ in enumerate(series):
        intended = wall + timedelta(days=index * step)
        shown = occ.starts_at.astimezone(tz).replace(tzinfo=None, fold=0)
        assert intended.date() <= until
        assert occ.ends_at - occ.starts_at == timedelta(minutes=minutes)
        if occ.wall_time_shifted:
            # Documented gap case: moved forward by the gap, never backward, never a day.
            assert classify_wall_time(intended, zone) is WallTime.NONEXISTENT
            assert intended < shown <= intended + timedelta(hours=2)
        else:
            assert shown == intended
    assert (wall + timedelta(days=len(series) * step)).date() > until

"""What a tutor typing times, durations and zone names gets back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserError
from bot.timeparse import (
    CalendarInputError,
    WallTime,
    autocomplete_zones,
    classify_wall_time,
    discord_timestamp,
    end_of_local_day,
    format_duration,
    format_offsets,
    get_zone,
    localize,
    parse_duration,
    parse_instant,
    parse_offsets,
    parse_span,
    suggest_zones,
    user_input,
)

LONDON = "Europe/London"
DST_ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Tehran",
    "Pacific/Auckland",
    "Asia/Tokyo",
    "UTC",
]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def naive(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock reading, deliberately without a zone."""
    return datetime(year, month, day, hour, minute)  # noqa: DTZ001


def assert_one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message[0].isupper() or message[0] == "'"
    assert message.endswith((".", "?"))
    assert "Traceback" not in message


# --------------------------------------------------------------------------- instants


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T18:00Z", utc(2026, 12, 1, 18)),
        ("2026-12-01 18:00+01:00", utc(2026, 12, 1, 17)),
        ("2026-12-01T18:00:30-05:00", utc(2026, 12, 1, 23, 0, 30)),
        ("2026-12-01 18:00 +0530", utc(2026, 12, 1, 12, 30)),
        ("2026-12-01 18:00 UTC", utc(2026, 12, 1, 18)),
        ("  2026-12-01t18:00z ", utc(2026, 12, 1, 18)),
    ],
)
def test_iso_times_with_an_offset_need_no_zone(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


def test_a_local_time_is_read_in_the_given_zone_in_winter_and_summer() -> None:
    assert parse_instant("2026-12-01 18:00", LONDON) == utc(2026, 12, 1, 18)
    assert parse_instant("2026-07-01 18:00", LONDON) == utc(2026, 7, 1, 17)
    assert parse_instant("2026-07-01 18:00", "Asia/Tokyo") == utc(2026, 7, 1, 9)


def test_an_explicit_offset_wins_over_the_zone() -> None:
    assert parse_instant("2026-07-01 18:00Z", LONDON) == utc(2026, 7, 1, 18)


def test_aoe_deadline_is_the_end_of_that_day_at_utc_minus_12() -> None:
    assert parse_instant("2026-12-01 AoE") == utc(2026, 12, 2, 11, 59, 59)
    assert parse_instant("2026-12-01 aoe", LONDON) == utc(2026, 12, 2, 11, 59, 59)
    assert parse_instant("2026-12-01 anywhere on earth") == utc(2026, 12, 2, 11, 59, 59)


def test_aoe_with_a_time_of_day_is_that_time_at_utc_minus_12() -> None:
    assert parse_instant("2026-12-01 18:00 AoE") == utc(2026, 12, 2, 6)


def test_spring_forward_gap_reads_with_the_offset_before_the_gap() -> None:
    # 01:30 does not exist in London on 2026-03-29; RFC 5545 says 02:30 BST.
    instant = parse_instant("2026-03-29 01:30", LONDON)
    assert instant == utc(2026, 3, 29, 1, 30)
    assert instant.astimezone(ZoneInfo(LONDON)).hour == 2


def test_autumn_fold_reads_as_the_first_of_the_two_times() -> None:
    # 01:30 happens twice in London on 2026-10-25: first in BST (00:30Z), then GMT (01:30Z).
    assert parse_instant("2026-10-25 01:30", LONDON) == utc(2026, 10, 25, 0, 30)


def test_wall_times_are_classified_so_callers_can_warn() -> None:
    assert classify_wall_time(naive(2026, 3, 29, 1, 30), LONDON) is WallTime.NONEXISTENT
    assert classify_wall_time(naive(2026, 10, 25, 1, 30), LONDON) is WallTime.AMBIGUOUS
    assert classify_wall_time(naive(2026, 10, 25, 3, 0), LONDON) is WallTime.NORMAL


def test_unreadable_time_gets_the_documented_sentence() -> None:
    with pytest.raises(CalendarInputError) as error:
        parse_instant("31/02/2026")
    assert str(error.value) == (
        "Could not read '31/02/2026' as a time; use e.g. 2026-12-01 18:00 or 2026-12-01T18:00Z."
    )


@pytest.mark.parametrize(
    ("text", "zone", "fragment"),
    [
        ("2026-02-31 18:00", LONDON, "not a real date"),
        ("2026-12-01 25:00", LONDON, "not a real date"),
        ("2026-12-01", LONDON, "has no time of day"),
        ("2026-12-01 18:00", None, "has no time zone"),
        ("2026-12-01 18:00+19:00", None, "impossible UTC offset"),
        ("0026-12-01 18:00Z", None, "usable year"),
        ("next tuesday", LONDON, "Could not read"),
        ("", LONDON, "Could not read"),
    ],
)
def test_bad_times_get_one_actionable_sentence(text: str, zone: str | None, fragment: str) -> None:
    with pytest.raises(CalendarInputError) as error:
        parse_instant(text, zone)
    assert fragment in str(error.value)
    assert_one_sentence(str(error.value))


def test_a_date_without_time_suggests_a_time_and_aoe() -> None:
    with pytest.raises(CalendarInputError, match=r"2026-12-01 18:00.*2026-12-01 AoE"):
        parse_instant("2026-12-01", LONDON)


def test_very_long_input_is_cut_short_in_the_error() -> None:
    with pytest.raises(CalendarInputError) as error:
        parse_instant("x" * 5000)
    assert len(str(error.value)) < 200


def test_past_times_are_refused_only_when_asked() -> None:
    now = utc(2026, 11, 30, 12)
    with pytest.raises(CalendarInputError, match="is in the past") as error:
        parse_instant("2026-11-30 11:59Z", now=now)
    assert "2026-11-30 12:00 UTC" in str(error.value)
    assert_one_sentence(str(error.value))
    assert parse_instant("2026-11-30 11:59Z", now=now, allow_past=True) == utc(2026, 11, 30, 11, 59)
    assert parse_instant("2026-11-30 11:59Z") == utc(2026, 11, 30, 11, 59)
    assert parse_instant("2026-11-30 12:00Z", now=now) == now


def test_naive_now_is_a_programming_error_not_user_input() -> None:
    with pytest.raises(ValueError) as error:
        parse_instant("2026-11-30 11:59Z", now=datetime(2026, 1, 1))  # noqa: DTZ001
    assert not isinstance(error.value, CalendarInputError)


def test_end_of_local_day_follows_the_zone() -> None:
    assert end_of_local_day(date(2026, 7, 1), LONDON) == utc(2026, 7, 1, 22, 59, 59)
    fixed = timezone(timedelta(hours=-12))
    assert end_of_local_day(date(2026, 7, 1), fixed) == utc(2026, 7, 2, 11, 59, 59)


# --------------------------------------------------------------------------- spans


def test_span_end_as_clock_time_is_on_the_start_local_day() -> None:
    assert parse_span("2026-07-01 18:00", "19:30", LONDON) == (
        utc(2026, 7, 1, 17),
        utc(2026, 7, 1, 18, 30),
    )
    assert parse_span("2026-07-01 18:00+02:00", "19:30") == (
        utc(2026, 7, 1, 16),
        utc(2026, 7, 1, 17, 30),
    )


def test_span_end_as_duration_or_full_time() -> None:
    assert parse_span("2026-12-01T18:00Z", "1h30m") == (
        utc(2026, 12, 1, 18),
        utc(2026, 12, 1, 19, 30),
    )
    assert parse_span("2026-12-01 18:00", "2026-12-02 09:00", LONDON)[1] == utc(2026, 12, 2, 9)


@pytest.mark.parametrize("end", ["17:30", "18:00", "2026-12-01 17:59", "0m"])
def test_an_end_not_after_the_start_is_refused(end: str) -> None:
    with pytest.raises(CalendarInputError, match="must be after the start") as error:
        parse_span("2026-12-01 18:00", end, LONDON)
    assert_one_sentence(str(error.value))


def test_span_refuses_a_past_start_when_asked() -> None:
    with pytest.raises(CalendarInputError, match="in the past"):
        parse_span("2026-12-01 18:00Z", "1h", now=utc(2026, 12, 2))


def test_span_bad_clock_end_is_refused() -> None:
    with pytest.raises(CalendarInputError, match="not a real clock time"):
        parse_span("2026-12-01 18:00Z", "19:75")


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("48h", timedelta(hours=48)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(minutes=90)),
        ("1H 30M", timedelta(minutes=90)),
        ("2w", timedelta(days=14)),
        ("0m", timedelta(0)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "1x", "h", "30m1h", "-5m", "1.5h"])
def test_unreadable_durations_are_refused(text: str) -> None:
    with pytest.raises(CalendarInputError, match=r"as a duration; use e\.g\. 7d") as error:
        parse_duration(text)
    assert_one_sentence(str(error.value))


@pytest.mark.parametrize("text", ["400d", "99999999999999999999d", "53w"])
def test_absurdly_long_durations_are_refused(text: str) -> None:
    with pytest.raises(CalendarInputError, match="longer than 366 days"):
        parse_duration(text)


def test_offsets_list_is_sorted_earliest_notice_first_without_duplicates() -> None:
    offsets = parse_offsets("1h, 24h,7d,48h,1d")
    assert offsets == [
        timedelta(days=7),
        timedelta(hours=48),
        timedelta(hours=24),
        timedelta(hours=1),
    ]
    assert format_offsets(offsets) == "7d,2d,1d,1h"


def test_offsets_errors_name_the_bad_piece() -> None:
    with pytest.raises(CalendarInputError, match="'fortnight'"):
        parse_offsets("7d,fortnight")
    with pytest.raises(CalendarInputError, match="at least one"):
        parse_offsets(" , ")
    with pytest.raises(CalendarInputError, match="at most 10"):
        parse_offsets(",".join(f"{n}h" for n in range(1, 12)))


durations = st.integers(min_value=0, max_value=366 * 86_400).map(lambda s: timedelta(seconds=s))


@given(durations)
def test_duration_spelling_round_trips(value: timedelta) -> None:
    text = format_duration(value)
    assert parse_duration(text) == value
    assert parse_duration(text.upper()) == value


@given(
    st.dictionaries(st.sampled_from("wdhms"), st.integers(min_value=0, max_value=500), min_size=1)
)
def test_any_unit_spelling_reads_as_its_canonical_form(parts: dict[str, int]) -> None:
    text = "".join(f"{parts[u]}{u}" for u in "wdhms" if u in parts)
    seconds = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
    expected = timedelta(seconds=sum(n * seconds[u] for u, n in parts.items()))
    if expected > timedelta(days=366):
        with pytest.raises(CalendarInputError):
            parse_duration(text)
        return
    value = parse_duration(text)
    assert value == expected
    assert format_duration(value) == format_duration(parse_duration(format_duration(value)))


@given(st.lists(durations, min_size=1, max_size=10))
def test_offset_lists_round_trip(offsets: list[timedelta]) -> None:
    parsed = parse_offsets(format_offsets(offsets))
    assert parsed == sorted(set(offsets), reverse=True)
    assert parse_offsets(format_offsets(parsed)) == parsed


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),  # noqa: DTZ001
        max_value=datetime(2198, 12, 31),  # noqa: DTZ001
    ),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_iso_with_offset_round_trips(wall: datetime, offset_minutes: int) -> None:
    wall = wall.replace(microsecond=0)
    aware = wall.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_instant(aware.isoformat()) == aware
    assert parse_instant(aware.isoformat()).tzinfo is UTC


@given(
    st.datetimes(
        min_value=datetime(1990, 1, 1),  # noqa: DTZ001
        max_value=datetime(2060, 12, 31),  # noqa: DTZ001
    ),
    st.sampled_from(DST_ZONES),
)
def test_a_local_time_shows_the_typed_wall_time_unless_it_does_not_exist(
    wall: datetime, zone: str
) -> None:
    wall = wall.replace(second=0, microsecond=0)
    instant = parse_instant(wall.strftime("%Y-%m-%d %H:%M"), zone)
    shown = instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None, fold=0)
    if classify_wall_time(wall, zone) is WallTime.NONEXISTENT:
        assert shown > wall
    else:
        assert shown == wall
    assert instant == localize(wall, zone)


# --------------------------------------------------------------------------- zones


def test_zone_names_are_validated_and_case_is_forgiven() -> None:
    assert get_zone("Europe/London").key == "Europe/London"
    assert get_zone("europe/london").key == "Europe/London"
    assert get_zone(" UTC ").key == "UTC"


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("Europe/Londn", "Europe/London"),
        ("Tokyo", "Asia/Tokyo"),
        ("new york", "America/New_York"),
        ("America/Sao Paulo", "America/Sao_Paulo"),
    ],
)
def test_unknown_zone_suggests_the_closest_names(typed: str, suggested: str) -> None:
    with pytest.raises(CalendarInputError) as error:
        get_zone(typed)
    message = str(error.value)
    assert message.startswith(f"Unknown time zone '{typed}'; did you mean ")
    assert suggested in message
    assert_one_sentence(message)


def test_unknown_zone_with_nothing_close_gives_examples() -> None:
    with pytest.raises(CalendarInputError, match="use an IANA name such as Europe/London"):
        get_zone("qqqqqq")


@pytest.mark.parametrize("junk", ["localtime", "Factory", "../etc/passwd", ""])
def test_non_places_are_not_zones(junk: str) -> None:
    with pytest.raises(CalendarInputError):
        get_zone(junk)


def test_suggestions_are_few_and_real() -> None:
    names = suggest_zones("Europe/Pari")
    assert names[0] == "Europe/Paris"
    assert 1 <= len(names) <= 3
    assert all(get_zone(name).key == name for name in names)


def test_autocomplete_prefers_whole_name_prefixes() -> None:
    names = autocomplete_zones("eur")
    assert names
    assert all(name.startswith("Europe/") for name in names)
    assert names[0] == "Europe/London"  # a common zone first


def test_autocomplete_matches_the_city_part() -> None:
    assert autocomplete_zones("tok")[0] == "Asia/Tokyo"
    assert autocomplete_zones("TOK")[0] == "Asia/Tokyo"
    assert autocomplete_zones("york")[0] == "America/New_York"
    assert autocomplete_zones("new york")[0] == "America/New_York"
    assert "Europe/London" in autocomplete_zones("lon")[:3]


def test_autocomplete_returns_at_most_25_and_only_matches() -> None:
    names = autocomplete_zones("a")
    assert len(names) == 25
    assert all("a" in name.lower() for name in names)
    assert autocomplete_zones("zzzz") == []
    assert len(autocomplete_zones("")) == 25
    assert autocomplete_zones("", limit=3) == ["UTC", "Europe/London", "Europe/Dublin"]


@given(st.text(max_size=12))
def test_autocomplete_only_offers_valid_zones(partial: str) -> None:
    names = autocomplete_zones(partial)
    assert len(names) <= 25
    assert len(set(names)) == len(names)
    for name in names:
        assert get_zone(name).key == name


# --------------------------------------------------------------------------- rendering


def test_discord_timestamps() -> None:
    moment = utc(2026, 12, 1, 18)
    assert discord_timestamp(moment) == "<t:1796148000:F>"
    assert discord_timestamp(moment, "R") == "<t:1796148000:R>"
    same_instant = moment.astimezone(ZoneInfo("Asia/Tokyo"))
    assert discord_timestamp(same_instant) == "<t:1796148000:F>"


def test_discord_timestamp_refuses_naive_times_and_unknown_styles() -> None:
    with pytest.raises(ValueError, match="naive"):
        discord_timestamp(datetime(2026, 12, 1, 18))  # noqa: DTZ001
    with pytest.raises(ValueError, match="style"):
        discord_timestamp(utc(2026, 12, 1, 18), "X")


def test_a_time_that_cannot_be_read_is_refused_with_the_parsers_sentence() -> None:
    with pytest.raises(CalendarInputError) as parsed:
        parse_instant("next blursday", LONDON, now=utc(2026, 11, 30))
    with pytest.raises(UserError) as plain, user_input():
        parse_instant("next blursday", LONDON, now=utc(2026, 11, 30))
    with pytest.raises(UserError) as named, user_input("Until"):
        parse_instant("next blursday", LONDON, now=utc(2026, 11, 30))
    assert plain.value.sentence == str(parsed.value)
    assert named.value.sentence == f"Until: {parsed.value}"
    assert "'next blursday'" in named.value.sentence


def test_a_time_that_can_be_read_passes_through_user_input() -> None:
    with user_input("Until"):
        when = parse_instant("2026-12-01T18:00Z", LONDON, now=utc(2026, 11, 30))
    assert when == datetime(2026, 12, 1, 18, tzinfo=UTC)

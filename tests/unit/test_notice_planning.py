"""Which reminders and deadline notices are owed, when, and what happens after an outage."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.notices import (
    DEADLINE_NOTICE,
    TUTORIAL_REMINDER,
    Delivery,
    NoticeTiming,
    QuietHours,
    catch_up,
    catch_up_many,
    notice_group,
    notice_text,
    plan_deadline_notices,
    plan_tutorial_reminders,
    quiet_period_end,
    shift_for_quiet_hours,
)
from bot.timeparse import CalendarInputError

LONDON = "Europe/London"
NIGHT = time(22), time(7)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(zone: str, value: datetime) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- planning


def test_tutorial_reminders_default_to_24h_and_15m_and_last_until_the_end() -> None:
    start, end = utc(2026, 12, 1, 18), utc(2026, 12, 1, 19)
    planned = plan_tutorial_reminders(start, end, item_key="occ12", audience_key="ch99")
    assert [(n.offset_label, n.due_at) for n in planned] == [
        ("1d", utc(2026, 11, 30, 18)),
        ("15m", utc(2026, 12, 1, 17, 45)),
    ]
    assert {n.kind for n in planned} == {TUTORIAL_REMINDER}
    assert {n.useful_until for n in planned} == {end}
    assert {n.item_at for n in planned} == {start}


def test_deadline_notices_default_to_7d_48h_24h_1h_and_last_until_the_deadline() -> None:
    due = utc(2026, 12, 2, 11, 59, 59)
    planned = plan_deadline_notices(due, item_key="ev7", audience_key="ch99")
    assert [n.offset_label for n in planned] == ["7d", "2d", "1d", "1h"]
    assert [n.due_at for n in planned] == [
        utc(2026, 11, 25, 11, 59, 59),
        utc(2026, 11, 30, 11, 59, 59),
        utc(2026, 12, 1, 11, 59, 59),
        utc(2026, 12, 2, 10, 59, 59),
    ]
    assert {n.useful_until for n in planned} == {due}
    assert {n.kind for n in planned} == {DEADLINE_NOTICE}


def test_dedupe_keys_are_stable_unique_and_fit_the_column() -> None:
    due = utc(2026, 12, 2, 11, 59, 59)
    first = plan_deadline_notices(due, item_key="ev7", audience_key="ch99")
    again = plan_deadline_notices(
        due.astimezone(ZoneInfo("Asia/Tokyo")), item_key="ev7", audience_key="ch99"
    )
    assert [n.dedupe_key for n in first] == [n.dedupe_key for n in again]
    assert len({n.dedupe_key for n in first}) == 4
    assert first[0].dedupe_key == "deadline_notice:ev7:ch99:1796212799:7d"
    assert all(len(n.dedupe_key) <= 200 for n in first)
    other_audience = plan_deadline_notices(due, item_key="ev7", audience_key="p3")
    assert not {n.dedupe_key for n in first} & {n.dedupe_key for n in other_audience}


def test_24h_and_1d_are_the_same_offset() -> None:
    due = utc(2026, 12, 2, 12)
    planned = plan_deadline_notices(
        due, item_key="ev7", audience_key="ch1", offsets=[timedelta(hours=24), timedelta(days=1)]
    )
    assert len(planned) == 1


def test_moving_the_deadline_gives_new_keys() -> None:
    before = plan_deadline_notices(utc(2026, 12, 2, 12), item_key="ev7", audience_key="ch1")
    after = plan_deadline_notices(utc(2026, 12, 3, 12), item_key="ev7", audience_key="ch1")
    assert not {n.dedupe_key for n in before} & {n.dedupe_key for n in after}
    assert {n.group for n in before} != {n.group for n in after}


def test_an_extension_shifts_that_students_notices_to_the_new_due_time() -> None:
    due, extended = utc(2026, 12, 2, 12), utc(2026, 12, 9, 12)
    class_wide = plan_deadline_notices(due, item_key="ev7", audience_key="ch1")
    student = plan_deadline_notices(
        due, item_key="ev7", audience_key="p3", extended_due_at=extended
    )
    assert [n.due_at for n in student] == [n.due_at + timedelta(days=7) for n in class_wide]
    assert {n.useful_until for n in student} == {extended}
    assert {n.item_at for n in student} == {extended}


def test_an_extension_before_the_deadline_is_refused() -> None:
    with pytest.raises(CalendarInputError, match="must end after the deadline"):
        plan_deadline_notices(
            utc(2026, 12, 2, 12),
            item_key="ev7",
            audience_key="p3",
            extended_due_at=utc(2026, 12, 1, 12),
        )


def test_notices_whose_moment_passed_before_the_item_existed_are_not_planned() -> None:
    due = utc(2026, 12, 2, 12)
    created = due - timedelta(hours=30)
    planned = plan_deadline_notices(due, item_key="ev7", audience_key="ch1", not_before=created)
    assert [n.offset_label for n in planned] == ["1d", "1h"]


def test_a_tutorial_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(CalendarInputError):
        plan_tutorial_reminders(
            utc(2026, 12, 1, 18), utc(2026, 12, 1, 17), item_key="o1", audience_key="c1"
        )


@pytest.mark.parametrize("bad", ["", "a:b"])
def test_key_parts_cannot_break_the_key_format(bad: str) -> None:
    with pytest.raises(ValueError, match="key part"):
        plan_deadline_notices(utc(2026, 12, 2, 12), item_key=bad, audience_key="c1")


def test_negative_offsets_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        plan_deadline_notices(
            utc(2026, 12, 2, 12), item_key="e", audience_key="c", offsets=[-timedelta(hours=1)]
        )


def test_group_is_recoverable_from_a_stored_key() -> None:
    (notice, *_) = plan_deadline_notices(utc(2026, 12, 2, 12), item_key="ev7", audience_key="p3")
    assert notice_group(notice.dedupe_key) == notice.group
    assert notice.group == "deadline_notice:ev7:p3:1796212800"


# --------------------------------------------------------------------------- quiet hours


def test_a_dm_due_in_quiet_hours_moves_to_their_end_in_summer_and_winter() -> None:
    quiet = QuietHours(*NIGHT, zone=LONDON)
    for due in (utc(2026, 7, 10, 22, 30), utc(2026, 1, 10, 23, 30)):  # 23:30 local both
        planned = plan_deadline_notices(
            due, item_key="ev7", audience_key="p3", offsets=[timedelta(days=1)], quiet=quiet
        )
        (notice,) = planned
        assert local(LONDON, notice.nominal_due_at).endswith("23:30")
        assert local(LONDON, notice.due_at).endswith("07:00")
        assert notice.due_at.date() == due.date()
    summer, winter = (
        shift_for_quiet_hours(utc(2026, 7, 9, 22, 30), quiet, utc(2026, 7, 10, 22, 30)),
        shift_for_quiet_hours(utc(2026, 1, 9, 23, 30), quiet, utc(2026, 1, 10, 23, 30)),
    )
    assert summer == utc(2026, 7, 10, 6)  # 07:00 BST
    assert winter == utc(2026, 1, 10, 7)  # 07:00 GMT


def test_a_dm_whose_quiet_period_ends_after_the_item_goes_at_its_original_time() -> None:
    quiet = QuietHours(*NIGHT, zone=LONDON)
    start = utc(2026, 1, 10, 6, 30)  # tutorial at 06:30, inside quiet hours
    planned = plan_tutorial_reminders(
        start, start + timedelta(hours=1), item_key="o1", audience_key="p3", quiet=quiet
    )
    fifteen = planned[-1]
    assert fifteen.offset_label == "15m"
    assert fifteen.due_at == fifteen.nominal_due_at == utc(2026, 1, 10, 6, 15)


def test_quiet_period_ending_exactly_at_the_item_keeps_the_original_time() -> None:
    quiet = QuietHours(*NIGHT, zone="UTC")
    assert shift_for_quiet_hours(utc(2026, 1, 10, 6), quiet, utc(2026, 1, 10, 7)) == utc(
        2026, 1, 10, 6
    )


def test_quiet_hours_in_the_persons_own_zone() -> None:
    quiet = QuietHours(*NIGHT, zone="Asia/Tokyo")
    due = utc(2026, 1, 10, 14)  # 23:00 in Tokyo
    assert quiet_period_end(due, quiet) == utc(2026, 1, 10, 22)  # 07:00 in Tokyo
    assert quiet_period_end(utc(2026, 1, 10, 3), quiet) is None  # 12:00 in Tokyo


def test_quiet_hours_that_do_not_wrap_midnight() -> None:
    quiet = QuietHours(time(13), time(14), zone="UTC")
    assert quiet_period_end(utc(2026, 1, 10, 13, 30), quiet) == utc(2026, 1, 10, 14)
    assert quiet_period_end(utc(2026, 1, 10, 14), quiet) is None
    assert quiet_period_end(utc(2026, 1, 10, 12, 59), quiet) is None


def test_quiet_window_edges_after_midnight() -> None:
    quiet = QuietHours(*NIGHT, zone="UTC")
    assert quiet_period_end(utc(2026, 1, 10, 22), quiet) == utc(2026, 1, 11, 7)
    assert quiet_period_end(utc(2026, 1, 11, 6, 59), quiet) == utc(2026, 1, 11, 7)
    assert quiet_period_end(utc(2026, 1, 11, 7), quiet) is None


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    quiet = QuietHours(time(9), time(9), zone="UTC")
    assert quiet_period_end(utc(2026, 1, 10, 9), quiet) is None


def test_quiet_period_ending_on_a_clock_change_morning() -> None:
    quiet = QuietHours(time(0), time(7), zone=LONDON)
    # 00:30 GMT on 29 March; the quiet period ends at 07:00 BST, only 5h30 later.
    assert quiet_period_end(utc(2026, 3, 29, 0, 30), quiet) == utc(2026, 3, 29, 6)
    quiet_into_gap = QuietHours(time(23), time(1, 30), zone=LONDON)
    # 01:30 does not exist that night; the end reads as 02:30 BST.
    assert quiet_period_end(utc(2026, 3, 28, 23, 30), quiet_into_gap) == utc(2026, 3, 29, 1, 30)


def test_quiet_period_inside_the_autumn_fold_ends_after_the_notice() -> None:
    quiet = QuietHours(time(0), time(1, 30), zone=LONDON)
    first_pass = utc(2026, 10, 25, 0, 15)  # 01:15 BST
    second_pass = utc(2026, 10, 25, 1, 15)  # 01:15 GMT, the wall clock repeats
    assert quiet_period_end(first_pass, quiet) == utc(2026, 10, 25, 0, 30)
    assert quiet_period_end(second_pass, quiet) == utc(2026, 10, 25, 1, 30)


def test_quiet_hours_take_naive_wall_times_only() -> None:
    with pytest.raises(ValueError, match="naive"):
        QuietHours(time(22, tzinfo=UTC), time(7), zone=LONDON)


def test_a_students_zone_never_changes_the_due_instant() -> None:
    due = utc(2026, 12, 2, 11, 59, 59)
    expected = [n.due_at for n in plan_deadline_notices(due, item_key="e", audience_key="p")]
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu", LONDON):
        # Quiet hours that cover none of these moments in that zone: nothing may move.
        quiet = QuietHours(time(3), time(3, 1), zone=zone)
        planned = plan_deadline_notices(due, item_key="e", audience_key="p", quiet=quiet)
        assert {n.item_at for n in planned} == {due}
        assert {n.useful_until for n in planned} == {due}
        assert [n.due_at for n in planned] == expected


# --------------------------------------------------------------------------- catch-up

DUE = utc(2026, 12, 1, 17, 45)
END = utc(2026, 12, 1, 19)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DUE - timedelta(seconds=1), Delivery.WAIT),
        (DUE, Delivery.SEND_ON_TIME),
        (DUE + timedelta(minutes=2), Delivery.SEND_ON_TIME),
        (DUE + timedelta(minutes=3), Delivery.SEND_LATE),
        (END - timedelta(seconds=1), Delivery.SEND_LATE),
        (END, Delivery.SKIP),
        (END + timedelta(days=3), Delivery.SKIP),
    ],
)
def test_catch_up_decision(now: datetime, expected: Delivery) -> None:
    assert catch_up(now, DUE, END) is expected


def test_a_15_minute_reminder_after_the_tutorial_ended_is_skipped() -> None:
    start, end = utc(2026, 12, 1, 18), utc(2026, 12, 1, 19)
    planned = plan_tutorial_reminders(start, end, item_key="o1", audience_key="c1")
    back_online = utc(2026, 12, 1, 19, 5)
    assert [catch_up(back_online, n.due_at, n.useful_until) for n in planned] == [
        Delivery.SKIP,
        Delivery.SKIP,
    ]
    during = utc(2026, 12, 1, 18, 20)
    decisions = catch_up_many(
        during, [NoticeTiming(n.group, n.due_at, n.useful_until) for n in planned]
    )
    assert decisions == [Delivery.SKIP, Delivery.SEND_LATE]


def test_after_an_outage_only_the_latest_passed_notice_of_an_item_is_sent() -> None:
    due = utc(2026, 12, 2, 12)
    class_notices = plan_deadline_notices(due, item_key="ev7", audience_key="ch1")
    other_item = plan_deadline_notices(due, item_key="ev8", audience_key="ch1")
    now = due - timedelta(hours=20)  # down for days: 7d, 48h, 24h all passed, 1h not yet
    rows = [NoticeTiming(n.group, n.due_at, n.useful_until) for n in class_notices + other_item]
    rows.reverse()  # input order must not matter
    decisions = catch_up_many(now, rows)
    expected_one_item = [Delivery.SKIP, Delivery.SKIP, Delivery.SEND_LATE, Delivery.WAIT]
    assert decisions == list(reversed(expected_one_item * 2))


def test_a_deadline_notice_after_the_deadline_is_skipped() -> None:
    due = utc(2026, 12, 2, 12)
    (*_, last) = plan_deadline_notices(due, item_key="ev7", audience_key="ch1")
    assert catch_up(due + timedelta(minutes=5), last.due_at, last.useful_until) is Delivery.SKIP


def test_a_notice_with_no_expiry_is_always_still_sent() -> None:
    assert catch_up(DUE + timedelta(days=30), DUE, None) is Delivery.SEND_LATE


# --------------------------------------------------------------------------- rendering


def test_notice_text_uses_discord_timestamps_and_says_when_late() -> None:
    start = utc(2026, 12, 1, 18)
    on_time = notice_text(TUTORIAL_REMINDER, "Week 3 tutorial", start)
    assert on_time == (
        "Reminder: tutorial **Week 3 tutorial** starts <t:1796148000:R> (<t:1796148000:F>)."
    )
    late = notice_text(DEADLINE_NOTICE, "Essay 1", start, late=True)
    assert late.startswith("Deadline: **Essay 1** is due <t:1796148000:R>")
    assert "late" in late
    with pytest.raises(ValueError, match="unknown notice kind"):
        notice_text("birthday", "x", start)


# --------------------------------------------------------------------------- properties

ZONES = ["UTC", LONDON, "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
instants = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
offsets = st.lists(
    st.integers(min_value=0, max_value=30 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    min_size=1,
    max_size=6,
)
quiet_hours = st.one_of(
    st.none(),
    st.builds(
        QuietHours,
        start=st.times(),
        end=st.times(),
        zone=st.sampled_from(ZONES),
    ),
)


@given(instants, offsets, quiet_hours)
def test_no_deadline_notice_is_ever_due_after_the_deadline(
    due: datetime, offs: list[timedelta], quiet: QuietHours | None
) -> None:
    planned = plan_deadline_notices(due, item_key="e", audience_key="p", offsets=offs, quiet=quiet)
    assert len(planned) == len(set(offs))
    for notice in planned:
        assert notice.nominal_due_at <= notice.due_at <= due
        assert notice.item_at == due == notice.useful_until


@given(instants, st.integers(min_value=0, max_value=300), offsets, quiet_hours)
def test_no_tutorial_reminder_is_ever_due_after_the_tutorial_starts(
    start: datetime, minutes: int, offs: list[timedelta], quiet: QuietHours | None
) -> None:
    end = start + timedelta(minutes=minutes)
    planned = plan_tutorial_reminders(
        start, end, item_key="o", audience_key="p", offsets=offs, quiet=quiet
    )
    for notice in planned:
        assert notice.nominal_due_at <= notice.due_at <= start
        assert notice.useful_until == end


@given(instants, st.integers(min_value=1, max_value=3 * 24 * 60), quiet_hours)
def test_quiet_hours_never_move_a_notice_onto_or_past_its_item(
    due: datetime, lead_minutes: int, quiet: QuietHours | None
) -> None:
    item_at = due + timedelta(minutes=lead_minutes)
    shifted = shift_for_quiet_hours(due, quiet, item_at)
    assert due <= shifted
    if shifted != due:
        assert shifted < item_at
        assert quiet is not None
        assert quiet_period_end(due, quiet) == shifted


@given(instants, instants, st.one_of(st.none(), instants), st.one_of(st.none(), instants))
def test_catch_up_never_sends_early_or_after_its_use(
    now: datetime, due: datetime, until: datetime | None, next_due: datetime | None
) -> None:
    decision = catch_up(now, due, until, next_due_at=next_due)
    if decision in (Delivery.SEND_ON_TIME, Delivery.SEND_LATE):
        assert due <= now
        assert until is None or now < until
        assert next_due is None or now < next_due
    if decision is Delivery.WAIT:
        assert now < due

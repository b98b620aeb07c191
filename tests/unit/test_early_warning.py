"""The early warning's rule: reasons in words, and quiet never flagged for quietness alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.insights.thresholds import Thresholds, ThresholdsError, parse_thresholds
from bot.insights.warning import Missed, StudentActivity, assess, percentile


def active(pid: int, weekly: tuple[int, ...] = (6, 5, 7, 6), days: float = 1.0) -> StudentActivity:
    return StudentActivity(pid, weekly, days)


def test_a_student_who_stopped_is_flagged_with_every_reason_in_words() -> None:
    cohort = [active(i) for i in range(1, 10)]
    gone = StudentActivity(
        99,
        (6, 5, 6, 0),
        days_since_last=9,
        missed_deadlines=(Missed("Bias and variance", 1.0),),
        reviews_not_done=(Missed("review for Exercise 1", 2.0),),
        going_but_absent=(Missed("Live tutorial 03 Mar", 4.0),),
    )
    flags = assess([*cohort, gone])
    flag = flags[-1]
    assert flag.flagged
    assert not any(f.flagged for f in flags[:-1])
    codes = [r.code for r in flag.reasons]
    assert codes == ["inactive", "missed", "reviews", "absent", "falling", "quiet"]
    assert "no activity for 9 days" in flag.summary
    assert "missed 1 deadline: “Bias and variance”" in flag.summary
    assert "1 peer review not done" in flag.summary
    assert "said “going” but did not attend 1 tutorial" in flag.summary
    assert "activity falling: 0 last week against 5.7 a week before" in flag.summary


def test_one_missed_deadline_alone_is_not_a_flag() -> None:
    student = StudentActivity(1, (6, 5, 7, 6), 0.5, missed_deadlines=(Missed("Prompt 3", 0.0),))
    flag = assess([student, active(2), active(3)])[0]
    assert not flag.flagged
    assert [r.code for r in flag.reasons] == ["missed"]


def test_missed_work_counts_half_once_the_student_is_active_again() -> None:
    back = StudentActivity(1, (5, 0, 6), 1.0, missed_deadlines=(Missed("P2", 7.0), Missed("E1", 7)))
    gone = StudentActivity(2, (5, 5, 0), 10.0, missed_deadlines=(Missed("P3", 1.0),))
    flags = assess([back, gone, active(3)])
    assert flags[0].score == 1.0 and not flags[0].flagged
    assert "(active since)" in flags[0].summary
    assert flags[1].flagged


def test_a_student_never_seen_is_flagged_once_the_module_has_run_a_week() -> None:
    never = StudentActivity(1, (0, 0), None, weeks_observed=2)
    newcomer = StudentActivity(2, (0,), None, weeks_observed=0)
    flags = assess([never, newcomer, active(3)])
    assert flags[0].flagged and "no activity recorded at all" in flags[0].summary
    assert not flags[1].flagged


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([], 20) == 0.0
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([0, 10], 25) == 2.5


steady_weeks = st.integers(min_value=1, max_value=40)


@settings(max_examples=300, deadline=None)
@given(
    quiet_level=st.integers(min_value=1, max_value=3),
    weeks=st.integers(min_value=1, max_value=6),
    days=st.floats(min_value=0, max_value=13.9),
    others=st.lists(
        st.tuples(st.lists(st.integers(0, 40), min_size=6, max_size=6), st.floats(0, 30)),
        min_size=1,
        max_size=40,
    ),
    thresholds=st.builds(
        Thresholds,
        low_percentile=st.integers(0, 100),
        recent_weeks=st.integers(1, 6),
        falling_ratio=st.floats(0, 1),
        falling_min_baseline=st.floats(0, 10),
    ),
)
def test_a_steady_quiet_student_doing_all_required_work_is_never_flagged(
    quiet_level: int,
    weeks: int,
    days: float,
    others: list[tuple[list[int], float]],
    thresholds: Thresholds,
) -> None:
    """Steady: the same small activity every week, active within the last two weeks, nothing
    missed. Whatever the rest of the cohort does, volume alone never flags them."""
    quiet = StudentActivity(0, (quiet_level,) * weeks, days, weeks_observed=weeks)
    cohort = [StudentActivity(i + 1, tuple(w), d) for i, (w, d) in enumerate(others)]
    flag = assess([quiet, *cohort], thresholds)[0]
    assert not flag.flagged, flag.reasons


@settings(max_examples=200, deadline=None)
@given(
    weekly=st.lists(st.integers(0, 30), min_size=1, max_size=6),
    days=st.none() | st.floats(0, 60),
    missed=st.integers(0, 4),
)
def test_flagged_exactly_when_the_points_reach_the_score(
    weekly: list[int], days: float | None, missed: int
) -> None:
    student = StudentActivity(
        1, tuple(weekly), days, missed_deadlines=tuple(Missed(f"P{i}", 3.0) for i in range(missed))
    )
    flag = assess([student, active(2)])[0]
    assert flag.flagged == (sum(r.points for r in flag.reasons) >= Thresholds().flag_score)
    assert all(r.text for r in flag.reasons)
    assert (
        flag.reasons == () or [r.code for r in flag.reasons][-1] != "quiet" or len(flag.reasons) > 1
    )


def test_thresholds_from_the_programme_file() -> None:
    assert parse_thresholds(None) == Thresholds()
    t = parse_thresholds({"inactive_days": 10, "flag_score": 2.5})
    assert t.inactive_days == 10 and t.flag_score == 2.5 and t.recent_weeks == 2
    with pytest.raises(ThresholdsError) as caught:
        parse_thresholds({"inactive_day": 3, "recent_weeks": 1.5, "falling_ratio": 2, "x": True})
    assert caught.value.errors == [
        "early_warning.inactive_day: unknown key (expected one of inactive_days, recent_weeks, "
        "low_percentile, falling_ratio, falling_min_baseline, flag_score, digest, digest_weekday, "
        "digest_hour)",
        "early_warning.recent_weeks: must be a whole number, got 1.5",
        "early_warning.falling_ratio: must be from 0 to 1, got 2",
        "early_warning.x: unknown key (expected one of inactive_days, recent_weeks, "
        "low_percentile, falling_ratio, falling_min_baseline, flag_score, digest, digest_weekday, "
        "digest_hour)",
    ]

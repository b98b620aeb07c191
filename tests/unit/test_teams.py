"""Team formation: hard rules never broken, refusals name who cannot be placed, DST honoured."""

from __future__ import annotations

from datetime import date
from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.teams import availability as av
from bot.teams.formation import (
    Formation,
    Refusal,
    Request,
    Student,
    can_join,
    explain,
    form,
    shared_slots,
    violations,
    widen_overlap,
)

# --------------------------------------------------------------------------- availability


def test_intervals_are_read_merged_and_described_back() -> None:
    ivs = av.parse_intervals("Mon-Fri 19:00-23:00; sat 9-17, Mon 22:00-24:00")
    assert av.describe(ivs) == (
        "Mon 19:00–24:00; Tue 19:00–23:00; Wed 19:00–23:00; Thu 19:00–23:00; "
        "Fri 19:00–23:00; Sat 09:00–17:00"
    )
    assert av.parse_intervals("weekends 10:00-18:00") == av.DEFAULT_INTERVALS[5:]
    assert av.decode(av.encode(ivs)) == ivs


@pytest.mark.parametrize(
    "text", ["", "Mon 19:00", "Funday 10-12", "Mon 23:00-19:00", "Tue 10:00-25:00", "Fri-Mon 1-2"]
)
def test_unreadable_availability_is_refused_in_one_sentence(text: str) -> None:
    with pytest.raises(av.AvailabilityError) as err:
        av.parse_intervals(text)
    assert "\n" not in err.value.sentence and err.value.sentence.endswith(".")


def _utc_hours(mask: int, weekday: int) -> list[float]:
    day = [k for k in range(weekday * 48, weekday * 48 + 48) if mask >> k & 1]
    return [(k % 48) / 2 for k in day]


def test_daylight_saving_keeps_only_the_slots_free_in_every_week() -> None:
    evenings = av.parse_intervals("Mon 19:00-23:00")
    summer = av.term_weeks(date(2026, 10, 12), date(2026, 10, 18))  # London on BST (UTC+1)
    winter = av.term_weeks(date(2026, 11, 2), date(2026, 11, 8))  # GMT
    both = av.term_weeks(date(2026, 10, 12), date(2026, 11, 8))  # the clocks change inside
    london = "Europe/London"
    assert _utc_hours(av.utc_slots(evenings, london, summer), 0)[:1] == [18.0]
    assert _utc_hours(av.utc_slots(evenings, london, winter), 0)[:1] == [19.0]
    term = av.utc_slots(evenings, london, both)
    assert _utc_hours(term, 0) == [19.0, 19.5, 20.0, 20.5, 21.0, 21.5]  # 19:00-22:00 UTC
    assert av.hours(term) == 3.0


def test_half_hour_zones_keep_whole_evenings() -> None:
    weeks = av.term_weeks(date(2026, 10, 5), date(2026, 10, 11))
    kolkata = av.utc_slots(av.parse_intervals("Mon 19:00-23:00"), "Asia/Kolkata", weeks)
    assert av.hours(kolkata) == 4.0
    assert _utc_hours(kolkata, 0)[0] == 13.5


def test_blocks_wrap_round_the_week() -> None:
    mask = av.window(av.SLOTS_PER_WEEK - 2, 4)  # Sunday 23:00 to Monday 01:00
    assert av.longest_run(mask) == 4
    assert av.blocks(mask) == [(av.SLOTS_PER_WEEK - 2, 4)]


# --------------------------------------------------------------------------- formation

DAY = 48  # slots a day


def block(day: int, start_hour: int, length_hours: int) -> int:
    return av.window(day * DAY + start_hour * 2, length_hours * 2)


PATTERNS = [
    block(0, 18, 4) | block(2, 18, 4),
    block(0, 19, 4) | block(5, 10, 6),
    block(2, 12, 5),
    block(5, 8, 4) | block(6, 8, 4),
    block(0, 20, 2) | block(2, 19, 2),
    block(1, 6, 3),
]


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[list[Student], Request]:
    n = draw(st.integers(3, 13))
    students = [
        Student(
            i,
            draw(st.sampled_from(PATTERNS)),
            {"skill": draw(st.sampled_from("ABC")), "role": draw(st.sampled_from("xy"))},
        )
        for i in range(n)
    ]
    size_min = draw(st.integers(2, 3))
    size_max = size_min + draw(st.integers(0, 2))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    apart = frozenset(draw(st.lists(pairs, max_size=3)))
    together = frozenset(draw(st.lists(pairs, max_size=2)))
    hours = draw(st.sampled_from([1, 2, 3]))
    req = Request(size_min, size_max, hours, apart, together, time_limit=5.0)
    return students, req


def truly_unplaceable(student: Student, students: list[Student], req: Request) -> bool:
    """Brute force: no group of size_min including ``student`` shares a block of min_hours
    without a kept-apart pair."""
    apart = {(min(a, b), max(a, b)) for a, b in req.apart}
    others = [s for s in students if s.id != student.id]
    for group in combinations(others, req.size_min - 1):
        members = [student, *group]
        ids = [m.id for m in members]
        if any((min(a, b), max(a, b)) in apart for a, b in combinations(ids, 2)):
            continue
        if av.longest_run(shared_slots(m.slots for m in members)) >= req.need_slots:
            return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts())
def test_no_team_ever_breaks_a_hard_rule(case: tuple[list[Student], Request]) -> None:
    students, req = case
    result = form(students, req)
    if isinstance(result, Formation):
        assert violations([t.members for t in result.teams], students, req) == []
        for t in result.teams:
            assert t.shared == shared_slots(s.slots for s in students if s.id in t.members)
    else:
        assert result.reason
        for sid in result.unplaceable:  # everyone named really cannot be in any team
            by_id = {s.id: s for s in students}
            why = result.unplaceable[sid]
            if "must be with" not in why:
                assert truly_unplaceable(by_id[sid], students, req), (sid, why)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(), st.integers(0, 4))
def test_an_infeasible_request_names_who_cannot_be_placed(
    case: tuple[list[Student], Request], lonely_day: int
) -> None:
    students, req = case
    lonely = Student(99, block(lonely_day, 2, 4), {"skill": "A"})  # 02:00-06:00 UTC: nobody else
    result = form([*students, lonely], req)
    assert isinstance(result, Refusal)
    assert 99 in result.unplaceable
    assert "shares a block of" in result.unplaceable[99]
    named = explain([*students, lonely], req)
    assert set(named) == set(result.unplaceable)


def test_a_refusal_reads_as_a_sentence_naming_the_reason() -> None:
    students = [Student(i, PATTERNS[0]) for i in range(4)] + [Student(7, PATTERNS[5])]
    result = form(students, Request(2, 3, 2))
    assert isinstance(result, Refusal)
    assert result.unplaceable == {
        7: "shares a block of 2 hours with only 0 other student(s); a team needs 2"
    }


def test_sizes_that_cannot_add_up_are_refused_without_blaming_anyone() -> None:
    students = [Student(i, PATTERNS[0]) for i in range(7)]
    result = form(students, Request(4, 5, 2))
    assert isinstance(result, Refusal)
    assert result.unplaceable == {}
    assert "cannot be split into teams of 4–5" in result.reason


def test_balance_is_max_min_across_teams() -> None:
    # Two of each skill: the only way for every team to hold two skills is to mix them.
    students = [Student(i, PATTERNS[0], {"skill": "AABB"[i]}) for i in range(4)]
    result = form(students, Request(2, 2, 2))
    assert isinstance(result, Formation)
    assert result.worst_balance == 2
    assert all(
        {students[m].answers["skill"] for m in t.members} == {"A", "B"} for t in result.teams
    )


def test_kept_together_and_apart_pairs_are_honoured() -> None:
    students = [Student(i, PATTERNS[1]) for i in range(6)]
    req = Request(3, 3, 2, apart=frozenset({(0, 1)}), together=frozenset({(0, 2), (1, 3)}))
    result = form(students, req)
    assert isinstance(result, Formation)
    teams = [set(t.members) for t in result.teams]
    assert any({0, 2} <= t for t in teams) and any({1, 3} <= t for t in teams)
    assert violations([t.members for t in result.teams], students, req) == []


def test_a_move_that_breaks_the_overlap_is_explained() -> None:
    team = [Student(1, PATTERNS[0]), Student(2, PATTERNS[0])]
    req = Request(2, 4, 3)
    assert can_join(team, Student(3, PATTERNS[0]), req) is None
    assert can_join(team, Student(4, PATTERNS[4]), req) == (
        "the team would share only 2 hours in a row a week (at least 3 are needed)"
    )


def _slow_longest_run(mask: int) -> int:
    if mask == av.ALL_SLOTS:
        return av.SLOTS_PER_WEEK
    best = run = 0
    for k in range(2 * av.SLOTS_PER_WEEK):
        run = run + 1 if mask >> (k % av.SLOTS_PER_WEEK) & 1 else 0
        best = max(best, run)
    return min(best, av.SLOTS_PER_WEEK)


@given(st.lists(st.tuples(st.integers(0, av.SLOTS_PER_WEEK - 1), st.integers(1, 60)), max_size=6))
def test_longest_run_matches_a_walk_round_the_week(spans: list[tuple[int, int]]) -> None:
    mask = 0
    for start, length in spans:
        mask |= av.window(start, length)
    assert av.longest_run(mask) == _slow_longest_run(mask)


def test_widening_lifts_the_worst_team_without_breaking_a_rule() -> None:
    a = Student(1, block(0, 18, 4))
    d = Student(4, block(0, 18, 4))
    b = Student(2, block(0, 18, 2) | block(2, 18, 4))
    c = Student(3, block(0, 18, 2) | block(2, 18, 4))
    req = Request(2, 2, 2)
    widened = widen_overlap([[a, b], [c, d]], req, floor_balance=0, budget=1.0)
    assert sorted(sorted(s.id for s in t) for t in widened) == [[1, 4], [2, 3]]
    assert min(av.hours(shared_slots(s.slots for s in t)) for t in widened) == 4.0
    kept = widen_overlap([[a, b], [c, d]], Request(2, 2, 2, apart=frozenset({(1, 4)})), 0, 1.0)
    assert sorted(sorted(s.id for s in t) for t in kept) == [[1, 2], [3, 4]]

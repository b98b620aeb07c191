"""The one due/late/extension rule (bot.due.rules): examples and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.due import (
    MIN_REVIEW_WINDOW,
    Grant,
    Item,
    ItemKind,
    applying,
    due,
    effective_due,
    extended_due,
    extends,
    is_late,
    reached,
    reviewer_due_at,
    superseded,
)

BASE = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PROMPT = Item(ItemKind.PROMPT, 1, BASE)


def g(gid: int, days: float, decided_hours: float = 0) -> Grant:
    return Grant(gid, 7, BASE + timedelta(days=days), BASE + timedelta(hours=decided_hours))


def test_no_grant_means_the_items_own_time() -> None:
    answer = due(PROMPT, 7, [])
    assert (answer.due_at, answer.extension, answer.extended) == (BASE, None, False)
    assert not answer.late(BASE) and answer.late(BASE + timedelta(microseconds=1))


def test_the_latest_grant_applies_even_when_it_is_shorter() -> None:
    first, second = g(1, 3, decided_hours=1), g(2, 1, decided_hours=2)
    assert applying(BASE, [first, second]) == second
    assert effective_due(BASE, [second, first]) == BASE + DAY


def test_latest_is_by_decision_time_then_id() -> None:
    approved_late = g(1, 2, decided_hours=5)  # a request approved after a direct grant
    direct = g(2, 4, decided_hours=3)
    assert applying(BASE, [approved_late, direct]) == approved_late
    same_time = [g(3, 2, decided_hours=1), g(4, 5, decided_hours=1)]
    assert applying(BASE, same_time) == same_time[1]


def test_a_grant_not_after_the_base_changes_nothing() -> None:
    # e.g. the prompt's close was moved past the extension afterwards
    assert applying(BASE, [g(1, -1)]) is None
    assert applying(BASE, [g(1, 0)]) is None
    assert due(PROMPT, 7, [g(1, -1)]).due_at == BASE


def test_late_is_strictly_after_and_reached_is_at_or_after() -> None:
    assert not is_late(BASE, BASE) and is_late(BASE + timedelta(seconds=1), BASE)
    assert reached(BASE, BASE) and not reached(BASE, BASE - timedelta(seconds=1))
    assert extends(BASE, BASE + timedelta(seconds=1)) and not extends(BASE, BASE)


def test_superseding_keeps_only_the_latest() -> None:
    grants = [g(1, 1, 1), g(2, 2, 3), g(3, 3, 2)]
    assert superseded(grants) == {1, 3}
    assert superseded([]) == frozenset()


def test_extension_running_until_its_end() -> None:
    answer = due(PROMPT, 7, [g(1, 2)])
    assert answer.extension_running(BASE + DAY)
    assert not answer.extension_running(BASE + 2 * DAY)
    assert not due(PROMPT, 7, []).extension_running(BASE - DAY)


def test_reviews_allocated_with_the_exercise_are_due_when_told() -> None:
    told = BASE
    assert reviewer_due_at(told, "allocation", BASE - 3 * DAY) == told
    # late work gets a full window; so does an allocation after the review deadline
    assert reviewer_due_at(told, "late", BASE - timedelta(hours=1)) == (
        BASE - timedelta(hours=1) + MIN_REVIEW_WINDOW
    )
    assert reviewer_due_at(told, "allocation", BASE) == BASE + MIN_REVIEW_WINDOW
    assert reviewer_due_at(told, "topup", BASE - 5 * DAY) == told


# --------------------------------------------------------------------------- properties

offsets = st.integers(min_value=-10 * 24 * 60, max_value=10 * 24 * 60)
grant_lists = st.lists(
    st.tuples(offsets, st.integers(min_value=0, max_value=1000)), max_size=6, unique_by=lambda t: t
).map(
    lambda pairs: [
        Grant(i + 1, 7, BASE + timedelta(minutes=due_m), BASE + timedelta(minutes=decided))
        for i, (due_m, decided) in enumerate(pairs)
    ]
)


@given(grant_lists, offsets)
def test_an_extension_never_makes_on_time_work_late(grants: list[Grant], at_m: int) -> None:
    at = BASE + timedelta(minutes=at_m)
    effective = effective_due(BASE, grants)
    assert effective >= BASE
    if not is_late(at, BASE):
        assert not is_late(at, effective)


@given(grant_lists, offsets)
def test_late_iff_after_the_effective_due(grants: list[Grant], at_m: int) -> None:
    at = BASE + timedelta(minutes=at_m)
    answer = due(PROMPT, 7, grants)
    assert answer.late(at) == (at > answer.due_at)
    assert answer.due_at == effective_due(BASE, grants)
    assert (answer.extension is None) == (answer.due_at == BASE)


@given(grant_lists)
def test_superseding_is_idempotent_and_keeps_the_answer(grants: list[Grant]) -> None:
    gone = superseded(grants)
    kept = [x for x in grants if x.id not in gone]
    assert len(kept) == min(1, len(grants))
    assert superseded(kept) == frozenset()
    assert effective_due(BASE, kept) == effective_due(BASE, grants)
    assert applying(BASE, kept) == applying(BASE, grants)


@given(grant_lists, offsets)
def test_a_new_grant_decides_alone(grants: list[Grant], due_m: int) -> None:
    """A grant approved after all others sets the time (never before the base)."""
    newest = Grant(99, 7, BASE + timedelta(minutes=due_m), BASE + timedelta(days=365))
    assert effective_due(BASE, [*grants, newest]) == max(BASE, newest.new_due_at)
    assert superseded([*grants, newest]) == {x.id for x in grants}


@given(grant_lists)
def test_the_latest_grants_end_alone_gives_the_same_answer(grants: list[Grant]) -> None:
    last = max(grants, key=lambda x: (x.decided_at, x.id), default=None)
    until = last.new_due_at if last is not None else None
    assert extended_due(BASE, until) == effective_due(BASE, grants)


@given(grant_lists)
def test_the_order_grants_are_read_in_does_not_matter(grants: list[Grant]) -> None:
    assert applying(BASE, grants) == applying(BASE, list(reversed(grants)))

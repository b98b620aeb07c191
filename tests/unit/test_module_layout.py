"""The module's items as a student sees them at a moment: shared between requests, and still
exactly what they are at each moment (a tutorial is "held" from its end on, not later)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.db.models import ExerciseStatus, PromptStatus
from bot.gradebook.loading import ItemRows
from bot.gradebook.snapshot import ModuleInfo, ModuleSnapshot

T0 = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _snapshot(rows: ItemRows) -> ModuleSnapshot:
    none: Any = None
    return ModuleSnapshot(
        module=ModuleInfo(1, 1, "MATH70097", "Supervised Learning"),
        zone="Europe/London",
        scheme=none,
        release=None,
        rows=rows,
        extensions={},
        late={},
        explanations={},
        taken_at=0.0,
        taken_now=T0,
    )


ROWS = ItemRows(
    prompts=((1, "Week 1", T0 + H, T0 + 5 * H, Decimal(3), PromptStatus.OPEN, None),),
    exercises=((2, "Exercise 1", T0 + 3 * H, 3, ExerciseStatus.OPEN, None),),
    occurrences=((3, T0 + 2 * H, T0 + 4 * H, "Tutorial"),),
    released=frozenset(),
)


def _labels(items: list[Any]) -> list[str]:
    return [i.status for i in items]


def test_the_layout_at_any_moment_is_what_the_items_are_then() -> None:
    snap = _snapshot(ROWS)
    moments = [T0 + timedelta(minutes=m) for m in range(0, 6 * 60, 7)]
    moments += [T0 + k * H for k in range(6)] + [
        T0 + k * H - timedelta(microseconds=1) for k in (1, 2, 3, 4)
    ]
    for now in moments + moments[::-1]:  # forwards and back (a demo's clock can go back)
        items, _layout = snap.layout_at(now)
        assert _labels(items) == _labels(ROWS.items_at("Europe/London", now)), now


def test_requests_between_two_moments_share_one_layout() -> None:
    snap = _snapshot(ROWS)
    first = snap.layout_at(T0 + 2 * H + timedelta(seconds=1))
    assert snap.layout_at(T0 + 2 * H + timedelta(minutes=59)) is not None
    assert snap.layout_at(T0 + 2 * H + timedelta(minutes=59))[1] is first[1]
    assert _labels(first[0]) == ["open", "open", "in progress"]
    after = snap.layout_at(T0 + 3 * H)  # the reviews close
    assert after[1] is not first[1] and _labels(after[0]) == [
        "open",
        "reviews closed",
        "in progress",
    ]

"""When /marks says "thinking": Discord drops an interaction neither answered nor deferred
within 3 s of the click: /marks says it DEFER_AFTER after the click, whatever the host's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from cogs.gradebook.cog import DEFER_AFTER, Gradebook

CLICK = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def defer_in(seen_after: float) -> float:
    """Seconds the handler waits for the answer when it sees the click ``seen_after`` late."""
    cog: Any = Gradebook.__new__(Gradebook)
    cog.bot = SimpleNamespace(
        clock=SimpleNamespace(now=lambda: CLICK + timedelta(seconds=seen_after))
    )
    cog.defer_after = DEFER_AFTER
    return cog._defer_in(SimpleNamespace(created_at=CLICK))  # type: ignore[no-any-return]


def test_a_click_seen_at_once_waits_for_the_answer_until_defer_after() -> None:
    assert defer_in(0.0) == DEFER_AFTER


def test_a_click_that_reached_the_bot_late_is_deferred_by_defer_after_from_the_click() -> None:
    for late in (0.1, 0.5, 1.0, 2.0):
        assert late + defer_in(late) == pytest.approx(DEFER_AFTER)
    for late in (2.5, 2.9, 10.0):
        assert defer_in(late) == 0  # "thinking" at once


def test_a_host_clock_behind_the_click_never_waits_past_defer_after() -> None:
    assert defer_in(-5.0) == DEFER_AFTER

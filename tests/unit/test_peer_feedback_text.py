"""The author's feedback explains their mark in one sentence that is true of it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.peer import render
from bot.peer.rubric import parse_rubric


@pytest.mark.parametrize(
    ("method", "median", "corrected", "shown"),
    [
        ("corrected", Decimal("80.0"), Decimal("80.0"), "corrected_median"),
        ("corrected_alone", Decimal("80.0"), Decimal("80.0"), "corrected_median"),
        ("corrected", Decimal("80.0"), Decimal("83.7"), "corrected"),
        ("corrected_alone", Decimal("80.0"), Decimal("83.7"), "corrected_alone"),
        ("median", Decimal("80.0"), Decimal("80.0"), "median"),
        ("mean", Decimal("80.0"), Decimal("83.7"), "mean"),
        ("corrected", None, None, "corrected"),
    ],
)
def test_a_correction_that_was_not_made_is_explained_as_the_median(
    method: str, median: Decimal | None, corrected: Decimal | None, shown: str
) -> None:
    assert render.shown_method(method, median, corrected) == shown


@pytest.mark.parametrize(
    ("method", "says"),
    [
        ("corrected_median", "the median of your peer scores: the reviews gave too little"),
        ("corrected", "usual generosity or harshness allowed for"),
        ("corrected_alone", "as learned from this exercise's peer reviews"),
    ],
)
def test_the_mark_is_explained_in_one_readable_sentence(method: str, says: str) -> None:
    [text] = render.feedback_dm(
        module_code="MATH70097",
        title="Week 2",
        rubric=parse_rubric("Overall 0-10"),
        mark=Decimal("80.0"),
        method=method,
        moderated=False,
        penalty=Decimal(0),
        reviews=[],
    )
    [line] = [x for x in text.splitlines() if x.startswith("Your peer mark")]
    assert says in line and line.endswith(").")
    assert "_" not in line  # no method identifier leaks into the sentence

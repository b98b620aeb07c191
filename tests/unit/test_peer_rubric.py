"""Peer-review rubrics: what tutors type, what reviewers may score, the 0-100 total, labels."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.peer.rubric import (
    DEFAULT_RUBRIC,
    Criterion,
    Rubric,
    RubricError,
    format_score,
    label_for,
    parse_rubric,
    parse_score,
)


def test_a_typed_rubric_reads_names_ranges_and_descriptors() -> None:
    rubric = parse_rubric("Correctness 0-10: method and result are right; Clarity 1-5\nStyle 0-2")
    assert rubric.criteria == (
        Criterion("Correctness", 0, 10, "method and result are right"),
        Criterion("Clarity", 1, 5, ""),
        Criterion("Style", 0, 2, ""),
    )
    assert Rubric.from_json(rubric.to_json()) == rubric
    assert "• Correctness (0-10): method and result are right" in rubric.describe()


def test_an_empty_rubric_is_the_default_one() -> None:
    assert parse_rubric("  ") == parse_rubric(DEFAULT_RUBRIC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A 0-1; B 0-1; C 0-1; D 0-1; E 0-1", "at most 4 criteria"),
        ("Correctness ten", "Could not read the rubric criterion “Correctness ten”"),
        ("Correctness 10-0", "must go from a lower to a higher"),
        ("Correctness 0-5000", "at most 1000"),
        ("Clarity 0-5; clarity 0-3", "names “clarity” twice"),
        ("A" * 40 + " 0-5", "too long"),
    ],
)
def test_bad_rubrics_get_one_sentence(text: str, expected: str) -> None:
    with pytest.raises(RubricError) as info:
        parse_rubric(text)
    assert expected in str(info.value)
    assert str(info.value).endswith(".")


def test_scores_outside_the_range_are_refused_naming_the_range() -> None:
    c = Criterion("Method", 0, 10)
    assert parse_score(c, " 7,5 ") == 7.5
    for bad in ("11", "-1", "nan", "inf", "", "seven"):
        with pytest.raises(RubricError, match="Method must be a number from 0 to 10"):
            parse_score(c, bad)


def test_the_total_is_the_share_of_the_ranges_on_0_to_100() -> None:
    rubric = parse_rubric("Method 0-10; Clarity 1-5")
    assert rubric.total({"Method": 10, "Clarity": 5}) == Decimal("100.0")
    assert rubric.total({"Method": 0, "Clarity": 1}) == Decimal("0.0")
    assert rubric.total({"Method": 7.5, "Clarity": 3}) == Decimal("67.9")


@given(st.lists(st.integers(0, 50), min_size=1, max_size=4), st.data())
def test_totals_stay_on_the_scale(spans: list[int], data: st.DataObject) -> None:
    rubric = Rubric(tuple(Criterion(f"C{i}", 0, s + 1) for i, s in enumerate(spans)))
    scores = {c.name: data.draw(st.floats(c.low, c.high)) for c in rubric.criteria}
    assert Decimal(0) <= rubric.total(scores) <= Decimal(100)


def test_labels_are_letters_then_pairs() -> None:
    assert [label_for(i) for i in (0, 1, 25, 26, 27, 701, 702)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]
    assert len({label_for(i) for i in range(2000)}) == 2000


def test_scores_print_without_noise() -> None:
    assert [format_score(x) for x in (80, 80.0, 7.25, Decimal("66.667"))] == [
        "80",
        "80",
        "7.3",
        "66.7",
    ]

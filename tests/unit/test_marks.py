"""Participation marks: tutor weights, the breakdown a student sees, Decimal rounding."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db.models import LedgerSource
from bot.gradebook.marks import (
    DEFAULT_SCHEME,
    LEDGER_SOURCE_COMPONENT,
    Component,
    ComponentTotals,
    MarkScheme,
    MarkSchemeError,
    WeightedPart,
    format_mark,
    module_mark,
    participation_mark,
    round_mark,
)


def totals(earned: str, available: str) -> ComponentTotals:
    return ComponentTotals(Decimal(earned), Decimal(available))


def test_breakdown_a_student_can_check() -> None:
    result = participation_mark(
        DEFAULT_SCHEME,
        {
            "discussion": totals("18", "24"),
            "peer_review": totals("2", "3"),
            "peer_score": totals("7.5", "10"),
            "attendance": totals("4", "5"),
        },
    )
    assert result.mark == Decimal("74.33")
    assert result.explanation == (
        "Discussion: 18/24 (75.00%) × weight 40% = 30.00\n"
        "Peer reviews completed: 2/3 (66.67%) × weight 20% = 13.33\n"
        "Peer assessment score: 7.5/10 (75.00%) × weight 20% = 15.00\n"
        "Tutorial attendance: 4/5 (80.00%) × weight 20% = 16.00\n"
        "Participation mark: 74.33/100 (provisional)"
    )


def test_contributions_add_up_to_the_mark_even_with_thirds() -> None:
    scheme = MarkScheme.from_dict({"discussion": 1, "peer_review": 1, "attendance": 1})
    full = {c: totals("1", "1") for c in ("discussion", "peer_review", "attendance")}
    result = participation_mark(scheme, full)
    assert result.mark == Decimal("100.00")
    assert [line.contribution for line in result.lines] == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


def test_a_component_with_nothing_available_shares_its_weight() -> None:
    result = participation_mark(
        DEFAULT_SCHEME,
        {"discussion": totals("6", "12"), "peer_review": totals("1", "1")},
    )
    # discussion 40 and peer review 20 of the 60 that are counted: 2/3 x 50% + 1/3 x 100%.
    assert result.mark == Decimal("66.67")
    assert result.explanation.splitlines() == [
        "Discussion: 6/12 (50.00%) × weight 66.67% = 33.34",  # equal remainders: first gets it
        "Peer reviews completed: 1/1 (100.00%) × weight 33.33% = 33.33",
        "Peer assessment score: nothing available yet; its weight is shared among the others",
        "Tutorial attendance: nothing available yet; its weight is shared among the others",
        "Participation mark: 66.67/100 (provisional)",
    ]


def test_nothing_available_at_all_gives_no_mark() -> None:
    result = participation_mark(DEFAULT_SCHEME, {})
    assert result.mark is None
    assert result.explanation == (
        "No participation activities have been available yet, so there is no mark."
    )


def test_adjustments_outside_the_range_are_capped_and_noted() -> None:
    scheme = MarkScheme.from_dict({"discussion": 1, "attendance": 1})
    result = participation_mark(
        scheme, {"discussion": totals("14", "12"), "attendance": totals("-1", "4")}
    )
    assert result.mark == Decimal("50.00")
    assert result.explanation.splitlines()[:2] == [
        "Discussion: 14/12 (100.00%) (capped at 100%) × weight 50% = 50.00",
        "Tutorial attendance: -1/4 (0.00%) (counted as 0%) × weight 50% = 0.00",
    ]


def test_zero_weight_components_are_not_shown() -> None:
    scheme = MarkScheme.from_dict({"discussion": "3", "peer_score": "1"})
    result = participation_mark(
        scheme, {"discussion": totals("3", "4"), "attendance": totals("1", "1")}
    )
    assert [line.component for line in result.lines] == [Component.DISCUSSION, Component.PEER_SCORE]


def test_rounding_is_half_up_to_two_decimals() -> None:
    assert round_mark(Decimal("69.995")) == Decimal("70.00")
    assert round_mark(Decimal("69.994999")) == Decimal("69.99")
    assert round_mark(Decimal("0.125")) == Decimal("0.13")  # half-even would give 0.12
    assert format_mark(Decimal(70)) == "70.00"


def test_result_does_not_depend_on_the_callers_decimal_context() -> None:
    data = {"discussion": totals("1", "3"), "peer_review": totals("2", "7")}
    expected = participation_mark(DEFAULT_SCHEME, data)
    with localcontext() as ctx:
        ctx.prec = 5
        assert participation_mark(DEFAULT_SCHEME, data) == expected


def test_scheme_is_stored_as_exact_strings() -> None:
    scheme = MarkScheme.from_dict({"discussion": 0.5, "peer_review": "0.25", "attendance": 2})
    stored = json.loads(json.dumps(scheme.to_dict()))
    assert stored == {
        "discussion": "0.5",
        "peer_review": "0.25",
        "peer_score": "0",
        "attendance": "2",
    }
    assert MarkScheme.from_dict(stored) == scheme
    assert scheme.render() == (
        "Discussion 18.18%, Peer reviews completed 9.09%, Tutorial attendance 72.73%"
    )


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"discussion": -1}, "The discussion weight must be from 0 to 1000, with at most 4"),
        ({"discussion": "lots"}, "The discussion weight must be a number, not 'lots'."),
        ({"discussion": 0, "attendance": 0}, "At least one participation component needs"),
        ({}, "At least one participation component needs a weight above 0."),
        ({"quizzes": 1}, "There is no participation component 'quizzes'; use discussion,"),
        ({"attendance": "0.00001"}, "with at most 4 decimals"),
    ],
)
def test_bad_weights_get_one_clear_sentence(weights: dict[str, object], message: str) -> None:
    with pytest.raises(MarkSchemeError) as caught:
        MarkScheme.from_dict(weights)
    assert message in caught.value.sentence


def test_every_ledger_source_but_adjustment_maps_to_a_component() -> None:
    assert set(LEDGER_SOURCE_COMPONENT) == {s.value for s in LedgerSource} - {"adjustment"}


def test_module_mark_preview() -> None:
    preview = module_mark(
        [
            WeightedPart("Participation", Decimal(10), Decimal("72.5")),
            WeightedPart("Coursework", Decimal(40), Decimal("64.25")),
            WeightedPart("Capstone", Decimal(50), Decimal("58")),
        ]
    )
    assert preview.mark == Decimal("61.95")  # 7.25 + 25.7 + 29
    assert preview.explanation.splitlines()[-1] == "Module mark: 61.95 (provisional)"


def test_module_mark_is_incomplete_until_every_part_is_marked() -> None:
    preview = module_mark(
        [
            WeightedPart("Participation", Decimal(10), Decimal(80)),
            WeightedPart("Capstone", Decimal(90), None),
        ]
    )
    assert preview.mark is None
    assert preview.missing == ("Capstone",)
    assert preview.explanation == "Incomplete: not yet marked: Capstone."


# --------------------------------------------------------------------------- properties

amounts = st.decimals(min_value=-5, max_value=200, places=3)
positive = st.decimals(min_value=0, max_value=200, places=3)
weights = st.decimals(min_value=0, max_value=100, places=2)


@st.composite
def schemes(draw: st.DrawFn) -> MarkScheme:
    values = {c: draw(weights) for c in Component}
    if sum(values.values()) == 0:
        values[draw(st.sampled_from(list(Component)))] = Decimal(1)
    return MarkScheme(values)


@st.composite
def ledgers(draw: st.DrawFn) -> dict[Component, ComponentTotals]:
    chosen = draw(st.lists(st.sampled_from(list(Component)), unique=True))
    return {c: ComponentTotals(draw(amounts), draw(positive)) for c in chosen}


@settings(deadline=None, max_examples=200)
@given(schemes(), ledgers())
def test_mark_is_between_0_and_100_and_parts_add_up(
    scheme: MarkScheme, ledger: dict[Component, ComponentTotals]
) -> None:
    result = participation_mark(scheme, ledger)
    if result.mark is None:
        return
    assert Decimal(0) <= result.mark <= Decimal(100)
    assert result.mark.as_tuple().exponent == -2
    assert sum(line.contribution for line in result.lines) == result.mark


@settings(deadline=None, max_examples=200)
@given(schemes(), ledgers(), st.data())
def test_earning_more_never_lowers_the_mark(
    scheme: MarkScheme, ledger: dict[Component, ComponentTotals], data: st.DataObject
) -> None:
    result = participation_mark(scheme, ledger)
    if result.mark is None:
        return
    component = data.draw(st.sampled_from(sorted(ledger)))
    extra = data.draw(st.decimals(min_value=0, max_value=50, places=3))
    richer = dict(ledger)
    richer[component] = ComponentTotals(
        ledger[component].earned + extra, ledger[component].available
    )
    better = participation_mark(scheme, richer).mark
    assert better is not None and better >= result.mark


@settings(deadline=None, max_examples=100)
@given(schemes(), ledgers())
def test_same_inputs_same_text(
    scheme: MarkScheme, ledger: dict[Component, ComponentTotals]
) -> None:
    reordered = dict(reversed(list(ledger.items())))
    assert participation_mark(scheme, reordered) == participation_mark(scheme, ledger)

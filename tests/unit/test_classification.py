"""Award and classification preview for MSc MLDS, against the programme specification."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db.models import Designation
from bot.gradebook.classification import (
    Classification,
    ClassificationError,
    ModuleOutcome,
    ModuleResult,
    classify,
)

CORE, COMPULSORY = Designation.CORE, Designation.COMPULSORY

# The module table of examples/mlds-2025.toml (programme specification, 2025-26 entry).
PROGRAMME: tuple[tuple[str, str, Designation], ...] = (
    ("MATH70094", "5", CORE),  # pass/fail, not in the weighted average
    ("MATH70095", "5", CORE),
    ("MATH70096", "5", COMPULSORY),
    ("MATH70097", "7.5", COMPULSORY),
    ("MATH70098", "7.5", CORE),
    ("MATH70100", "7.5", COMPULSORY),
    ("MATH70102", "7.5", COMPULSORY),
    ("MATH70103", "7.5", COMPULSORY),
    ("MATH70104", "5", COMPULSORY),
    ("MATH70101", "7.5", COMPULSORY),
    ("MATH70099", "5", COMPULSORY),
    ("MATH70105", "20", COMPULSORY),  # the research aspect
)


def student(default: str | None = "65", **marks: str | None) -> list[ModuleResult]:
    """Every module at ``default`` unless named; MATH70094 passes unless given a mark."""
    results = []
    for code, ects, designation in PROGRAMME:
        mark = marks.get(code, default)
        if code == "MATH70094":
            results.append(
                ModuleResult(
                    code,
                    Decimal(ects),
                    designation,
                    mark=None if code not in marks or mark is None else Decimal(mark),
                    pass_fail=True,
                    in_weighted_average=False,
                    passed=None if code in marks else default is not None,
                )
            )
        else:
            results.append(
                ModuleResult(
                    code, Decimal(ects), designation, None if mark is None else Decimal(mark)
                )
            )
    return results


def test_all_modules_passed_at_merit() -> None:
    result = classify(student("65"))
    assert result.classification is Classification.MERIT
    assert result.label == "Provisional: Merit"
    assert result.provisional
    assert result.reasons == (
        "taught average 65.00 (Merit)",
        "research average 65.00 (Merit)",
        "credits 90 of 90",
    )
    assert result.credits_passed == Decimal(90)


def test_classified_by_the_lower_of_taught_and_research() -> None:
    result = classify(student("72", MATH70105="64"))
    assert result.taught_average == Decimal("72.00")
    assert result.research_average == Decimal("64.00")
    assert result.classification is Classification.MERIT
    assert result.reasons[-1] == "classified by the lower of the two aspects: Merit"

    result = classify(student("58", MATH70105="80"))
    assert result.classification is Classification.PASS


@pytest.mark.parametrize(
    ("mark", "band"),
    [
        ("70.00", Classification.DISTINCTION),
        ("69.99", Classification.MERIT),
        ("60.00", Classification.MERIT),
        ("59.99", Classification.PASS),
        ("50.00", Classification.PASS),
    ],
)
def test_band_thresholds(mark: str, band: Classification) -> None:
    assert classify(student(mark)).classification is band


def test_averages_are_ects_weighted_and_rounded_half_up() -> None:
    # Taught aspect = 65 ECTS. (60 x 69.99 + 5 x 70.05) / 65 = 69.9946... -> 69.99
    result = classify(student("69.99", MATH70095="70.05", MATH70105="75"))
    assert result.taught_average == Decimal("69.99")
    assert result.classification is Classification.MERIT
    # (52.5 x 70 + 7.5 x 69.95 + 5 x 69.88) / 65 = 4549.025 / 65 = 69.985 exactly:
    # half-up gives 69.99 (half-even would give 69.98).
    result = classify(student("70", MATH70097="69.95", MATH70095="69.88", MATH70105="75"))
    assert result.taught_average == Decimal("69.99")
    # (60 x 70 + 5 x 69.94) / 65 = 69.9953... -> 70.00: the rounded average is what is banded.
    result = classify(student("70", MATH70095="69.94", MATH70105="75"))
    assert result.taught_average == Decimal("70.00")
    assert result.classification is Classification.DISTINCTION


def test_pass_fail_module_is_left_out_of_the_taught_average() -> None:
    with_fail_mark_high = student("65", MATH70094="100")
    assert classify(with_fail_mark_high).taught_average == Decimal("65.00")
    failed = classify(student("65", MATH70094="20"))
    assert failed.classification is Classification.FAIL
    assert "fail: core module MATH70094 not passed (pass/fail)" in failed.reasons


def test_core_module_below_50_cannot_be_compensated() -> None:
    result = classify(student("68", MATH70095="45"))
    assert result.classification is Classification.FAIL
    assert result.label == "Provisional: Fail (no award)"
    assert result.reasons[0] == (
        "fail: core module MATH70095 below 50 (45.00); core modules cannot be compensated"
    )
    assert dict(result.outcomes)["MATH70095"] is ModuleOutcome.FAILED


def test_compensated_pass_within_15_credits() -> None:
    result = classify(student("66", MATH70097="45", MATH70099="40"))
    assert result.classification is Classification.MERIT
    assert result.compensated_credits == Decimal("12.5")
    assert "compensated credits 12.5 of 15 allowed (MATH70097 45.00, MATH70099 40.00)" in (
        result.reasons
    )
    assert result.credits_passed == Decimal(90)


def test_more_than_15_compensated_credits_is_a_fail() -> None:
    result = classify(student("66", MATH70097="45", MATH70100="44", MATH70102="42"))
    assert result.classification is Classification.FAIL
    assert result.reasons[0] == (
        "fail: compensated credits 22.5 > 15 (MATH70097 45.00, MATH70100 44.00, MATH70102 42.00)"
    )


def test_below_40_cannot_be_compensated() -> None:
    result = classify(student("66", MATH70096="39.99"))
    assert result.classification is Classification.FAIL
    assert result.reasons[0] == "fail: module MATH70096 below 40 (39.99), too low to compensate"
    assert result.credits_passed == Decimal(85)
    assert "fail: credits 85 < 90 required" in result.reasons


def test_research_project_in_the_40s_exceeds_the_compensation_limit() -> None:
    result = classify(student("75", MATH70105="48"))
    assert result.classification is Classification.FAIL
    assert "fail: compensated credits 20 > 15 (MATH70105 48.00)" in result.reasons
    assert "research average 48.00 (below the pass threshold)" in result.reasons


def test_taught_average_below_50_is_no_award_even_with_every_module_credited() -> None:
    marks = dict.fromkeys(("MATH70097", "MATH70100"), "40")
    result = classify(student("50", **marks, MATH70105="70"))
    assert result.compensated_credits == Decimal(15)
    assert result.taught_average == Decimal("47.69")  # (15 x 40 + 50 x 50) / 65
    assert result.classification is Classification.FAIL
    assert "taught average 47.69 (below the pass threshold)" in result.reasons


def test_partial_preview_names_what_is_missing() -> None:
    year_two = ("MATH70103", "MATH70104", "MATH70101", "MATH70099", "MATH70105")
    result = classify(student("68", **dict.fromkeys(year_two)))
    assert result.classification is Classification.INCOMPLETE
    assert result.label == "Provisional: Incomplete"
    assert result.missing == year_two
    assert result.reasons == (
        "incomplete: not yet marked: MATH70103, MATH70104, MATH70101, MATH70099, MATH70105",
        "taught average so far 68.00 (Merit)",
        "research average: no marks yet",
    )


def test_partial_preview_still_reports_a_known_fail() -> None:
    result = classify(student("68", MATH70095="30", MATH70105=None))
    assert result.classification is Classification.INCOMPLETE
    assert result.reasons[1].startswith("fail: core module MATH70095 below 50 (30.00)")


def test_bad_input_gets_one_clear_sentence() -> None:
    modules = student("65")
    with pytest.raises(ClassificationError, match="Module MATH70095 is listed twice"):
        classify([*modules, modules[1]])
    with pytest.raises(ClassificationError, match="must be from 0 to 100"):
        classify([replace(modules[1], mark=Decimal(101))])
    with pytest.raises(ClassificationError, match="There are no modules"):
        classify([])


# --------------------------------------------------------------------------- properties

marks = st.decimals(min_value=0, max_value=100, places=2)


@st.composite
def transcripts(draw: st.DrawFn) -> list[ModuleResult]:
    results = []
    for module in student("50"):
        if module.pass_fail:
            results.append(replace(module, passed=draw(st.booleans())))
        else:
            results.append(replace(module, mark=draw(marks)))
    return results


@settings(deadline=None, max_examples=300)
@given(transcripts(), st.data())
def test_raising_a_module_mark_never_lowers_the_classification(
    modules: list[ModuleResult], data: st.DataObject
) -> None:
    before = classify(modules)
    index = data.draw(st.integers(0, len(modules) - 1))
    module = modules[index]
    if module.pass_fail:
        better = replace(module, passed=True)
    else:
        assert module.mark is not None
        better = replace(module, mark=data.draw(st.decimals(min_value=module.mark, max_value=100)))
    after = classify([*modules[:index], better, *modules[index + 1 :]])
    assert after.classification.rank >= before.classification.rank


@settings(deadline=None, max_examples=200)
@given(transcripts())
def test_complete_transcripts_always_get_a_class_and_reasons(modules: list[ModuleResult]) -> None:
    result = classify(modules)
    assert result.classification is not Classification.INCOMPLETE
    assert result.provisional and result.label.startswith("Provisional: ")
    failed = any(o in (ModuleOutcome.FAILED,) for _, o in result.outcomes)
    if failed:
        assert result.classification is Classification.FAIL
    assert all(reason for reason in result.reasons)

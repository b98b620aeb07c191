"""A provisional preview of the award and its classification, by the programme's rules.

Pure logic on Decimals. The rules come from the MSc Machine Learning and Data Science
programme specification (2025-26 entry), "Progression and Classification"; the exam board
decides, so every result says it is provisional.

How the rules are read here (each one is a reason line in the result):

- **Module outcome.** A mark of 50.00 or more passes. A mark from 40.00 to 49.99 is a
  *compensated pass* on a compulsory or elective module; core modules cannot be compensated
  ("Core modules must therefore be taken and passed"), so on a core module it is a fail, as is
  any mark below 40.00. A pass/fail module (MATH70094) passes or fails outright.
- **Award.** At least 90 credits passed (compensated passes carry their credits) and no more
  than 15 credits as compensated passes; any failed module means no award.
- **Averages.** Two ECTS-weighted averages: the *research* aspect is the research project
  (MATH70105); the *taught* aspect is every other module that counts in the weighted average,
  so the pass/fail MATH70094 is left out. Failed and compensated marks count at their value.
  Each average is rounded half-up to 2 decimals, then compared with the bands.
- **Classification.** Distinction 70.00, Merit 60.00, Pass 50.00. "Each [aspect] meeting the
  threshold" means the class is the lower of the two aspects' bands. An average below 50.00 in
  either aspect means no award even if every module was passed or compensated.
- **Partial preview.** While any module is unmarked the outcome is "incomplete": the result
  names the missing modules, and shows the averages and problems so far.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.db.models import Designation
from bot.errors import UserError
from bot.gradebook.marks import DECIMAL_CONTEXT, HUNDRED, format_mark, round_mark

__all__ = [
    "MLDS_RULES",
    "Classification",
    "ClassificationError",
    "ClassificationResult",
    "ModuleOutcome",
    "ModuleResult",
    "ProgrammeRules",
    "classify",
]


class ClassificationError(UserError):
    """Module results that cannot be classified as given; one sentence to act on."""


class Classification(enum.StrEnum):
    DISTINCTION = "distinction"
    MERIT = "merit"
    PASS = "pass"
    FAIL = "fail"
    INCOMPLETE = "incomplete"

    @property
    def label(self) -> str:
        return "Fail (no award)" if self is Classification.FAIL else self.value.capitalize()

    @property
    def rank(self) -> int:
        """Order of merit for comparison; incomplete has no rank (-1)."""
        return _RANK.get(self, -1)


_RANK = {
    Classification.FAIL: 0,
    Classification.PASS: 1,
    Classification.MERIT: 2,
    Classification.DISTINCTION: 3,
}


class ModuleOutcome(enum.StrEnum):
    PASSED = "passed"
    COMPENSATED = "compensated"
    FAILED = "failed"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class ProgrammeRules:
    """The numbers of the programme's regulations, so another programme can supply its own."""

    award_credits: Decimal = Decimal(90)
    max_compensated_credits: Decimal = Decimal(15)
    pass_mark: Decimal = Decimal(50)
    compensation_floor: Decimal = Decimal(40)
    bands: tuple[tuple[Decimal, Classification], ...] = (
        (Decimal(70), Classification.DISTINCTION),
        (Decimal(60), Classification.MERIT),
        (Decimal(50), Classification.PASS),
    )
    research_module_codes: frozenset[str] = field(default_factory=lambda: frozenset({"MATH70105"}))

    def band(self, average: Decimal) -> Classification:
        for threshold, band in self.bands:
            if average >= threshold:
                return band
        return Classification.FAIL


MLDS_RULES = ProgrammeRules()


@dataclass(frozen=True, slots=True)
class ModuleResult:
    """One module's result for one student, as the classification needs it.

    ``mark`` is the module mark (0-100) or None while unmarked. For a pass/fail module give
    ``passed`` (or a mark, read against the pass mark).
    """

    code: str
    ects: Decimal
    designation: Designation
    mark: Decimal | None = None
    pass_fail: bool = False
    in_weighted_average: bool = True
    passed: bool | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class ClassificationResult:
    """The provisional outcome and every reason behind it, in the order a board reads them."""

    classification: Classification
    taught_average: Decimal | None
    research_average: Decimal | None
    taught_band: Classification | None
    research_band: Classification | None
    credits_passed: Decimal
    compensated_credits: Decimal
    outcomes: tuple[tuple[str, ModuleOutcome], ...]
    missing: tuple[str, ...]
    reasons: tuple[str, ...]
    provisional: bool = True

    @property
    def label(self) -> str:
        """E.g. "Provisional: Merit" — the word provisional is never dropped."""
        return f"Provisional: {self.classification.label}"

    @property
    def explanation(self) -> str:
        return "\n".join((self.label, *self.reasons))


def _credits(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _weighted_average(modules: Sequence[ModuleResult]) -> Decimal | None:
    marked = [m for m in modules if m.mark is not None]
    weight = sum((m.ects for m in marked), Decimal(0))
    if weight == 0:
        return None
    total = sum(
        (DECIMAL_CONTEXT.multiply(m.ects, m.mark) for m in marked if m.mark is not None),
        Decimal(0),
    )
    return round_mark(DECIMAL_CONTEXT.divide(total, weight))


def _validate(modules: Sequence[ModuleResult]) -> None:
    seen: set[str] = set()
    for m in modules:
        if m.code in seen:
            raise ClassificationError(f"Module {m.code} is listed twice; give each module once.")
        seen.add(m.code)
        if not (isinstance(m.ects, Decimal) and m.ects.is_finite() and m.ects > 0):
            raise ClassificationError(f"Module {m.code} needs a credit value above 0.")
        if m.mark is not None and not (
            isinstance(m.mark, Decimal) and m.mark.is_finite() and 0 <= m.mark <= HUNDRED
        ):
            raise ClassificationError(f"The mark of module {m.code} must be from 0 to 100.")
    if not modules:
        raise ClassificationError("There are no modules to classify.")


def classify(
    modules: Sequence[ModuleResult], rules: ProgrammeRules = MLDS_RULES
) -> ClassificationResult:
    """Classify one student from all their modules' results (provisional; see module docs)."""
    _validate(modules)
    reasons: list[str] = []
    outcomes: list[tuple[str, ModuleOutcome]] = []
    credits_passed = Decimal(0)
    compensated: list[ModuleResult] = []
    failed = False
    missing: list[str] = []

    for m in modules:
        outcome = _module_outcome(m, rules)
        outcomes.append((m.code, outcome))
        if outcome is ModuleOutcome.MISSING:
            missing.append(m.code)
            continue
        if outcome is ModuleOutcome.FAILED:
            failed = True
            reasons.append(_fail_reason(m, rules))
            continue
        credits_passed += m.ects
        if outcome is ModuleOutcome.COMPENSATED:
            compensated.append(m)

    compensated_credits = sum((m.ects for m in compensated), Decimal(0))
    if compensated:
        listed = ", ".join(f"{m.code} {format_mark(m.mark or Decimal(0))}" for m in compensated)
        limit = _credits(rules.max_compensated_credits)
        if compensated_credits > rules.max_compensated_credits:
            failed = True
            reasons.append(
                f"fail: compensated credits {_credits(compensated_credits)} > {limit} ({listed})"
            )
        else:
            reasons.append(
                f"compensated credits {_credits(compensated_credits)} of {limit} allowed ({listed})"
            )

    research = [m for m in modules if m.code in rules.research_module_codes]
    taught = [
        m
        for m in modules
        if m.code not in rules.research_module_codes and m.in_weighted_average and not m.pass_fail
    ]
    taught_average = _weighted_average(taught)
    research_average = _weighted_average(research)
    taught_band = None if taught_average is None else rules.band(taught_average)
    research_band = None if research_average is None else rules.band(research_average)
    so_far = " so far" if missing else ""
    for name, average, band in (
        ("taught", taught_average, taught_band),
        ("research", research_average, research_band),
    ):
        if average is None or band is None:
            reasons.append(f"{name} average: no marks yet")
            continue
        band_text = "below the pass threshold" if band is Classification.FAIL else band.label
        reasons.append(f"{name} average{so_far} {format_mark(average)} ({band_text})")
        if band is Classification.FAIL:
            failed = True
    if not taught:
        reasons.append("no taught modules count in the weighted average")
    if not research:
        reasons.append("no research module is listed")

    if missing:
        reasons.insert(0, f"incomplete: not yet marked: {', '.join(missing)}")
        classification = Classification.INCOMPLETE
    else:
        if credits_passed < rules.award_credits:
            failed = True
            reasons.append(
                f"fail: credits {_credits(credits_passed)} < {_credits(rules.award_credits)} "
                "required"
            )
        else:
            reasons.append(f"credits {_credits(credits_passed)} of {_credits(rules.award_credits)}")
        if failed or taught_band is None or research_band is None:
            classification = Classification.FAIL
        else:
            classification = min(taught_band, research_band, key=lambda c: c.rank)
            if taught_band is not research_band:
                reasons.append(
                    f"classified by the lower of the two aspects: {classification.label}"
                )

    return ClassificationResult(
        classification=classification,
        taught_average=taught_average,
        research_average=research_average,
        taught_band=taught_band,
        research_band=research_band,
        credits_passed=credits_passed,
        compensated_credits=compensated_credits,
        outcomes=tuple(outcomes),
        missing=tuple(missing),
        reasons=tuple(reasons),
    )


def _module_outcome(m: ModuleResult, rules: ProgrammeRules) -> ModuleOutcome:
    if m.pass_fail:
        passed = m.passed
        if passed is None and m.mark is not None:
            passed = m.mark >= rules.pass_mark
        if passed is None:
            return ModuleOutcome.MISSING
        return ModuleOutcome.PASSED if passed else ModuleOutcome.FAILED
    if m.mark is None:
        return ModuleOutcome.MISSING
    if m.mark >= rules.pass_mark:
        return ModuleOutcome.PASSED
    if m.mark >= rules.compensation_floor and m.designation is not Designation.CORE:
        return ModuleOutcome.COMPENSATED
    return ModuleOutcome.FAILED


def _fail_reason(m: ModuleResult, rules: ProgrammeRules) -> str:
    if m.pass_fail:
        return f"fail: {m.designation.value} module {m.code} not passed (pass/fail)"
    mark = format_mark(m.mark or Decimal(0))
    if m.designation is Designation.CORE:
        return (
            f"fail: core module {m.code} below {_credits(rules.pass_mark)} ({mark}); "
            "core modules cannot be compensated"
        )
    return (
        f"fail: module {m.code} below {_credits(rules.compensation_floor)} ({mark}), "
        "too low to compensate"
    )

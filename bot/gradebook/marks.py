"""The participation mark (0-100) of one student in one module, from ledger totals.

Pure logic on Decimals. Exports must be reproducible byte for byte, so floats never appear and
every computation runs in one fixed decimal context (34 significant digits), whatever the
caller's context is.

The rules, as shown to students:

- Each component (discussion, peer reviews completed, peer assessment score, tutorial
  attendance) earns ``earned / available`` of its weight, capped between 0% and 100%.
- Weights are set per module by a tutor and normalised to add up to 100%.
- A component with nothing available yet (no prompt closed, no tutorial held) is left out and
  its weight is shared among the others in proportion, so an early mark is not dragged down by
  activities that have not happened.
- The mark is the exact weighted sum, rounded **half-up to 2 decimals** once, at the end.
  The contributions shown per component are rounded so that they add up to that mark exactly
  (largest remainder), so a student can check the sum.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from types import MappingProxyType
from typing import Any

from bot.errors import UserError, shown

__all__ = [
    "COMPONENT_LABELS",
    "DEFAULT_SCHEME",
    "LEDGER_SOURCE_COMPONENT",
    "Component",
    "ComponentLine",
    "ComponentTotals",
    "MarkScheme",
    "MarkSchemeError",
    "ModuleMarkPreview",
    "ParticipationMark",
    "WeightedPart",
    "format_mark",
    "module_mark",
    "participation_mark",
    "round_mark",
]

HUNDRED = Decimal(100)
_CENT = Decimal("0.01")
_WEIGHT_STEP = Decimal("0.0001")
_MAX_WEIGHT = Decimal(1000)
DECIMAL_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)


class MarkSchemeError(UserError):
    """A tutor's weights or a mark input that cannot be used; one sentence to act on."""


class Component(enum.StrEnum):
    DISCUSSION = "discussion"
    PEER_REVIEW = "peer_review"
    PEER_SCORE = "peer_score"
    ATTENDANCE = "attendance"


#: Iterating an Enum is slow; the gradebook computes thousands of marks per export.
_ALL: tuple[Component, ...] = tuple(Component)
_ORDER: Mapping[Component, int] = MappingProxyType({c: i for i, c in enumerate(_ALL)})

COMPONENT_LABELS: Mapping[Component, str] = MappingProxyType(
    {
        Component.DISCUSSION: "Discussion",
        Component.PEER_REVIEW: "Peer reviews completed",
        Component.PEER_SCORE: "Peer assessment score",
        Component.ATTENDANCE: "Tutorial attendance",
    }
)

#: Which component a ledger entry counts toward, by ``LedgerSource`` value. Adjustments name
#: their component themselves (the service reads it from the entry), so they are not listed.
LEDGER_SOURCE_COMPONENT: Mapping[str, Component] = MappingProxyType(
    {
        "discussion_post": Component.DISCUSSION,
        "discussion_reply": Component.DISCUSSION,
        "quality_points": Component.DISCUSSION,
        "peer_review_completed": Component.PEER_REVIEW,
        "peer_score_received": Component.PEER_SCORE,
        "tutorial_attendance": Component.ATTENDANCE,
    }
)


def round_mark(value: Decimal) -> Decimal:
    """The one rounding rule for marks: half-up to 2 decimals (69.995 -> 70.00)."""
    return value.quantize(_CENT, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)


def format_mark(value: Decimal) -> str:
    """A mark as printed everywhere: always 2 decimals (72.50), never scientific."""
    return f"{round_mark(value):f}"


def _div(numerator: Decimal, denominator: Decimal) -> Decimal:
    return DECIMAL_CONTEXT.divide(numerator, denominator)


def _pct(fraction: Decimal) -> Decimal:
    return DECIMAL_CONTEXT.multiply(fraction, HUNDRED)


def _format_amount(value: Decimal) -> str:
    """Points or credits as people write them: 18, 17.5, 0.25."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _parse_decimal(what: str, raw: object) -> Decimal:
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = Decimal(raw)
    elif isinstance(raw, str):
        try:
            value = Decimal(raw.strip())
        except ArithmeticError:
            raise MarkSchemeError(f"{what} must be a number, not {shown(raw)}.") from None
    elif isinstance(raw, float):
        value = Decimal(repr(raw))
    else:
        raise MarkSchemeError(f"{what} must be a number, not {shown(raw)}.")
    if not value.is_finite():
        raise MarkSchemeError(f"{what} must be a number, not {shown(raw)}.")
    return value


# --------------------------------------------------------------------------- scheme


@dataclass(frozen=True)
class MarkScheme:
    """Per-module weights of the participation components (any scale; normalised on use)."""

    weights: Mapping[Component, Decimal] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_WEIGHTS))
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", MappingProxyType(_clean_weights(self.weights)))

    def __hash__(self) -> int:
        return hash(tuple(self.weights.items()))

    def normalised(self) -> dict[Component, Decimal]:
        """Weights as fractions adding up to 1 (exactly, up to the 34-digit context)."""
        total = sum(self.weights.values(), Decimal(0))
        return {c: _div(w, total) for c, w in self.weights.items()}

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form for ``MarkScheme.weights``: Decimals as strings to stay exact."""
        return {c.value: _format_amount(w) for c, w in self.weights.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarkScheme:
        """Read stored or typed weights; a component left out has weight 0."""
        return cls(weights=_clean_weights(data))

    def render(self) -> str:
        """The weights as a student reads them: "Discussion 40%, Peer reviews completed 20%"."""
        parts = [
            f"{COMPONENT_LABELS[c]} {_percent_text(w)}"
            for c, w in self.normalised().items()
            if w > 0
        ]
        return ", ".join(parts)


def _clean_weights(weights: Mapping[Any, Any]) -> dict[Component, Decimal]:
    cleaned: dict[Component, Decimal] = {}
    for key, raw in weights.items():
        try:
            component = Component(key)
        except ValueError:
            raise MarkSchemeError(
                f"There is no participation component {shown(key)}; use "
                f"{', '.join(c.value for c in Component)}."
            ) from None
        value = _parse_decimal(f"The {component.value} weight", raw)
        if not (0 <= value <= _MAX_WEIGHT) or value != value.quantize(_WEIGHT_STEP):
            raise MarkSchemeError(
                f"The {component.value} weight must be from 0 to {_MAX_WEIGHT}, "
                "with at most 4 decimals."
            )
        cleaned[component] = value
    if sum(cleaned.values(), Decimal(0)) <= 0:
        raise MarkSchemeError("At least one participation component needs a weight above 0.")
    return {component: cleaned.get(component, Decimal(0)) for component in Component}


_DEFAULT_WEIGHTS: Mapping[Component, Decimal] = {
    Component.DISCUSSION: Decimal(40),
    Component.PEER_REVIEW: Decimal(20),
    Component.PEER_SCORE: Decimal(20),
    Component.ATTENDANCE: Decimal(20),
}
DEFAULT_SCHEME = MarkScheme()


def _percent_text(fraction: Decimal) -> str:
    """A fraction as a percentage to 2 decimals with trailing zeros dropped: 40%, 33.33%."""
    return _format_amount(round_mark(_pct(fraction))) + "%"


# --------------------------------------------------------------------------- participation


@dataclass(frozen=True, slots=True)
class ComponentTotals:
    """Ledger totals for one component: points earned out of points available so far."""

    earned: Decimal
    available: Decimal

    def __post_init__(self) -> None:
        for name in ("earned", "available"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise MarkSchemeError(f"Points {name} must be a finite number.")
        if self.available < 0:
            raise MarkSchemeError("Points available cannot be negative.")


@dataclass(frozen=True, slots=True)
class ComponentLine:
    """One line of a student's participation breakdown."""

    component: Component
    label: str
    earned: Decimal
    available: Decimal
    weight: Decimal  # effective normalised weight after sharing out empty components
    fraction: Decimal  # earned / available, capped to [0, 1]
    contribution: Decimal  # 2 decimals; the lines' contributions add up to the mark
    counted: bool
    note: str = ""

    @property
    def text(self) -> str:
        if not self.counted:
            return f"{self.label}: nothing available yet; its weight is shared among the others"
        note = f" {self.note}" if self.note else ""
        return (
            f"{self.label}: {_format_amount(self.earned)}/{_format_amount(self.available)} "
            f"({format_mark(_pct(self.fraction))}%){note} × weight "
            f"{_percent_text(self.weight)} = {format_mark(self.contribution)}"
        )


@dataclass(frozen=True, slots=True)
class ParticipationMark:
    """A student's participation mark and the breakdown shown with it; always provisional."""

    mark: Decimal | None
    exact: Decimal | None
    lines: tuple[ComponentLine, ...]

    @property
    def explanation(self) -> str:
        if self.mark is None:
            return "No participation activities have been available yet, so there is no mark."
        body = [line.text for line in self.lines]
        body.append(f"Participation mark: {format_mark(self.mark)}/100 (provisional)")
        return "\n".join(body)


def participation_mark(
    scheme: MarkScheme,
    totals: Mapping[Component, ComponentTotals] | Mapping[str, ComponentTotals],
) -> ParticipationMark:
    """Compute one student's participation mark from per-component ledger totals.

    Components missing from ``totals`` have nothing available. Earned points above what is
    available (a generous adjustment) count as 100%; below zero count as 0%; both are noted.
    """
    by_component: dict[Component, ComponentTotals] = {}
    for key, value in totals.items():
        if isinstance(key, Component):
            by_component[key] = value
            continue
        try:
            by_component[Component(key)] = value
        except ValueError:
            raise MarkSchemeError(f"There is no participation component {shown(key)}.") from None
    weights = scheme.weights
    active = [c for c in _ALL if weights[c] > 0]
    empty = ComponentTotals(Decimal(0), Decimal(0))
    available = [c for c in active if by_component.get(c, empty).available > 0]
    if not available:
        nothing = tuple(_uncounted_line(c, by_component.get(c, empty)) for c in active)
        return ParticipationMark(mark=None, exact=None, lines=nothing)

    with localcontext(DECIMAL_CONTEXT):
        total_weight = sum((weights[c] for c in available), Decimal(0))
        exact_parts: dict[Component, Decimal] = {}
        fractions: dict[Component, Decimal] = {}
        notes: dict[Component, str] = {}
        for c in available:
            t = by_component[c]
            raw = t.earned / t.available
            fractions[c] = min(max(raw, Decimal(0)), Decimal(1))
            if raw > 1:
                notes[c] = "(capped at 100%)"
            elif raw < 0:
                notes[c] = "(counted as 0%)"
            exact_parts[c] = weights[c] / total_weight * fractions[c] * HUNDRED
        exact = sum(exact_parts.values(), Decimal(0))
    mark = min(max(round_mark(exact), Decimal("0.00")), round_mark(HUNDRED))
    rounded = _largest_remainder(exact_parts, mark)

    lines: list[ComponentLine] = []
    for c in active:
        t = by_component.get(c, empty)
        if c not in exact_parts:
            lines.append(_uncounted_line(c, t))
            continue
        weight = _div(weights[c], total_weight)
        lines.append(
            ComponentLine(
                component=c,
                label=COMPONENT_LABELS[c],
                earned=t.earned,
                available=t.available,
                weight=weight,
                fraction=fractions[c],
                contribution=rounded[c],
                counted=True,
                note=notes.get(c, ""),
            )
        )
    return ParticipationMark(mark=mark, exact=exact, lines=tuple(lines))


def _uncounted_line(component: Component, totals: ComponentTotals) -> ComponentLine:
    return ComponentLine(
        component=component,
        label=COMPONENT_LABELS[component],
        earned=totals.earned,
        available=totals.available,
        weight=Decimal(0),
        fraction=Decimal(0),
        contribution=Decimal("0.00"),
        counted=False,
    )


def _largest_remainder(
    parts: Mapping[Component, Decimal], total: Decimal
) -> dict[Component, Decimal]:
    """Round each part to 2 decimals so the rounded parts add up to ``total`` exactly.

    Parts are first rounded down; the cents still missing go one each to the parts with the
    largest remainders (ties: component order). Half-up rounding of the total guarantees
    0 <= missing cents <= number of parts, so no part moves by more than one cent.
    """
    floors = {
        c: v.quantize(_CENT, rounding=ROUND_DOWN, context=DECIMAL_CONTEXT) for c, v in parts.items()
    }
    missing = int(_div(total - sum(floors.values(), Decimal(0)), _CENT))
    order = sorted(parts, key=lambda c: (-(parts[c] - floors[c]), _ORDER[c]))
    for c in order[: max(missing, 0)]:
        floors[c] += _CENT
    return floors


# --------------------------------------------------------------------------- module mark


@dataclass(frozen=True, slots=True)
class WeightedPart:
    """One assessed part of a module (participation, coursework, capstone...) and its mark."""

    name: str
    weight: Decimal
    mark: Decimal | None


@dataclass(frozen=True, slots=True)
class ModuleMarkPreview:
    """A module mark previewed from its parts; incomplete while any part is unmarked."""

    mark: Decimal | None
    missing: tuple[str, ...]
    explanation: str


def module_mark(parts: Sequence[WeightedPart]) -> ModuleMarkPreview:
    """Weighted mean of a module's part marks, rounded half-up to 2 decimals.

    While any part is unmarked the mark is None and ``missing`` names the parts, so a preview
    never passes off a partial average as the module mark.
    """
    if not parts:
        raise MarkSchemeError("A module mark needs at least one assessed part.")
    names = [p.name for p in parts]
    if len(set(names)) != len(names):
        raise MarkSchemeError("Each assessed part of a module must have a different name.")
    for part in parts:
        if not isinstance(part.weight, Decimal) or not part.weight.is_finite() or part.weight < 0:
            raise MarkSchemeError(f"The weight of {part.name!r} must be a number of 0 or more.")
        if part.mark is not None and not (
            isinstance(part.mark, Decimal) and part.mark.is_finite() and 0 <= part.mark <= HUNDRED
        ):
            raise MarkSchemeError(f"The mark of {part.name!r} must be from 0 to 100.")
    total_weight = sum((p.weight for p in parts), Decimal(0))
    if total_weight <= 0:
        raise MarkSchemeError("At least one assessed part needs a weight above 0.")
    missing = tuple(p.name for p in parts if p.mark is None)
    if missing:
        return ModuleMarkPreview(
            mark=None,
            missing=missing,
            explanation=f"Incomplete: not yet marked: {', '.join(missing)}.",
        )
    with localcontext(DECIMAL_CONTEXT):
        exact = sum((p.weight * p.mark for p in parts if p.mark is not None), Decimal(0))
        exact /= total_weight
    mark = round_mark(exact)
    lines = [
        f"{p.name}: {format_mark(p.mark)} × weight {_percent_text(_div(p.weight, total_weight))}"
        for p in parts
        if p.mark is not None
    ]
    lines.append(f"Module mark: {format_mark(mark)} (provisional)")
    return ModuleMarkPreview(mark=mark, missing=(), explanation="\n".join(lines))

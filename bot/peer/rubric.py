"""Peer-review rubrics, scores and anonymous labels (pure: no I/O).

A tutor types a rubric as ``"Correctness 0-10: method and result are right; Clarity 0-5"``:
criteria separated by ``;`` (or new lines), each a name, an integer range and an optional
descriptor shown to reviewers. A review's total is put on 0-100 (the sum of the points above
each criterion's minimum, over the sum of the ranges) so exercises with different rubrics
aggregate and enter the gradebook on one scale.

At most four criteria: a Discord modal holds five inputs and the fifth is the comments box.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "DEFAULT_RUBRIC",
    "MAX_CRITERIA",
    "Criterion",
    "Rubric",
    "RubricError",
    "label_for",
    "parse_rubric",
    "parse_score",
]

MAX_CRITERIA = 4
MAX_NAME = 30
MAX_DESCRIPTOR = 100
MAX_POINTS = 1000
DEFAULT_RUBRIC = "Overall 0-10: how well the submission answers the brief"

_CRITERION = re.compile(
    r"^(?P<name>.+?)\s+(?P<lo>\d+)\s*-\s*(?P<hi>\d+)\s*(?::\s*(?P<desc>.*))?$", re.DOTALL
)
_EXAMPLE = 'e.g. "Correctness 0-10: method and result are right; Clarity 0-5"'


class RubricError(ValueError):
    """A rubric or a score a person can fix; ``str(error)`` says how, in one sentence."""


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    low: int
    high: int
    descriptor: str = ""

    @property
    def span(self) -> int:
        return self.high - self.low

    def label(self) -> str:
        return f"{self.name} ({self.low}-{self.high})"


@dataclass(frozen=True, slots=True)
class Rubric:
    criteria: tuple[Criterion, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "criteria": [
                {"name": c.name, "low": c.low, "high": c.high, "descriptor": c.descriptor}
                for c in self.criteria
            ]
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rubric:
        return cls(
            tuple(
                Criterion(str(c["name"]), int(c["low"]), int(c["high"]), str(c["descriptor"]))
                for c in data["criteria"]
            )
        )

    def describe(self) -> str:
        """One line per criterion, as shown with the exercise and in the review DM."""
        lines = []
        for c in self.criteria:
            tail = f": {c.descriptor}" if c.descriptor else ""
            lines.append(f"• {c.name} ({c.low}-{c.high}){tail}")
        return "\n".join(lines)

    def total(self, scores: Mapping[str, float]) -> Decimal:
        """The review on 0-100, rounded to 0.1 (a half rounds up)."""
        span = sum(c.span for c in self.criteria)
        got = sum(float(scores[c.name]) - c.low for c in self.criteria)
        value = Decimal(repr(100.0 * got / span))
        return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def check_scores(self, raw: Mapping[str, str]) -> dict[str, float]:
        """Read each criterion's typed score; the first bad one is refused with its range."""
        out: dict[str, float] = {}
        for c in self.criteria:
            out[c.name] = parse_score(c, raw.get(c.name, ""))
        return out


def parse_rubric(text: str | None) -> Rubric:
    """Read a tutor's rubric; refuse with one sentence naming the first problem."""
    spec = (text or "").strip() or DEFAULT_RUBRIC
    parts = [p.strip() for p in re.split(r"[;\n]", spec) if p.strip()]
    if len(parts) > MAX_CRITERIA:
        raise RubricError(
            f"A rubric has at most {MAX_CRITERIA} criteria (a review form holds "
            f"{MAX_CRITERIA} scores and a comment); yours has {len(parts)}."
        )
    criteria: list[Criterion] = []
    for part in parts:
        m = _CRITERION.match(part)
        if m is None:
            raise RubricError(
                f"Could not read the rubric criterion {_echo(part)}: write a name and a "
                f"range, {_EXAMPLE}."
            )
        name = " ".join(m["name"].split()).rstrip(":")
        lo, hi = int(m["lo"]), int(m["hi"])
        desc = " ".join((m["desc"] or "").split())
        if len(name) > MAX_NAME:
            raise RubricError(
                f"The criterion name {_echo(name)} is too long: keep it under {MAX_NAME + 1} "
                "characters and put detail in the descriptor after a colon."
            )
        if hi <= lo or hi > MAX_POINTS:
            raise RubricError(
                f"The range of {_echo(name)} must go from a lower to a higher whole number "
                f"(at most {MAX_POINTS}), e.g. 0-10."
            )
        if len(desc) > MAX_DESCRIPTOR:
            raise RubricError(
                f"The descriptor of {_echo(name)} is {len(desc)} characters; keep it to "
                f"{MAX_DESCRIPTOR}."
            )
        if any(c.name.lower() == name.lower() for c in criteria):
            raise RubricError(f"The rubric names {_echo(name)} twice; give each criterion once.")
        criteria.append(Criterion(name, lo, hi, desc))
    return Rubric(tuple(criteria))


def parse_score(criterion: Criterion, text: str) -> float:
    """A typed score (``7``, ``7.5``, ``7,5``) inside the criterion's range."""
    cleaned = text.strip().replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not criterion.low <= value <= criterion.high:
        raise RubricError(
            f"{criterion.name} must be a number from {criterion.low} to {criterion.high}; "
            f"you wrote {_echo(text.strip() or '(nothing)')}."
        )
    return value


def label_for(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the anonymous name of a submission within an exercise."""
    if index < 0:
        raise ValueError("index must be >= 0")
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def format_score(value: float | Decimal, *, places: int = 1) -> str:
    """7, 7.5, 72.3: no trailing zeros, no exponent."""
    q = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{q:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _echo(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{text}”"

"""The early warning's knobs: defaults that work, overridable in the programme file.

A programme file may carry an ``[early_warning]`` table; each key is optional and checked
here, so ``cohortbot programme load`` reports a typo with the other problems at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

__all__ = ["Thresholds", "ThresholdsError", "parse_thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Defaults chosen on the simulated cohort in ``bench/bench_early_warning.py``."""

    #: Days without any activity (post, submission, review, check-in, RSVP) that count.
    inactive_days: int = 7
    #: Weeks looked back for missed work and for the cohort comparison.
    recent_weeks: int = 2
    #: A student below this percentile of the cohort's recent activity is "quiet" (never
    #: a flag on its own: steady quiet students are not at risk).
    low_percentile: int = 20
    #: Last week's activity at or below this share of the student's own earlier weekly mean.
    falling_ratio: float = 0.35
    #: Earlier weekly mean needed before a fall counts (a fall from 1 to 0 is noise).
    falling_min_baseline: float = 2.0
    #: Points needed for a flag; each reason adds its points (see ``warning``).
    flag_score: float = 2.0
    #: A weekly digest DM of the flags to each module's tutors (respecting their quiet hours).
    digest: bool = False
    #: When it is sent: ISO weekday (1 = Monday) and hour, in the cohort's time zone.
    digest_weekday: int = 1
    digest_hour: int = 8

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ThresholdsError(ValueError):
    """Every problem with an ``[early_warning]`` table, one sentence each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


_LIMITS: dict[str, tuple[float, float, bool]] = {
    # key: (lowest, highest, whole number)
    "inactive_days": (1, 365, True),
    "recent_weeks": (1, 26, True),
    "low_percentile": (0, 100, True),
    "falling_ratio": (0, 1, False),
    "falling_min_baseline": (0, 1000, False),
    "flag_score": (0.5, 20, False),
    "digest_weekday": (1, 7, True),
    "digest_hour": (0, 23, True),
}
_BOOLEANS = ("digest",)


def parse_thresholds(data: Mapping[str, Any] | None) -> Thresholds:
    """Thresholds from a TOML table (``None``: the defaults); raises listing every problem."""
    if data is None:
        return Thresholds()
    errors: list[str] = []
    values: dict[str, Any] = {}
    known = [f.name for f in fields(Thresholds)]
    for key, raw in data.items():
        if key in _BOOLEANS:
            if not isinstance(raw, bool):
                errors.append(f"early_warning.{key}: must be true or false, got {raw!r}")
            else:
                values[key] = raw
            continue
        if key not in _LIMITS:
            errors.append(f"early_warning.{key}: unknown key (expected one of {', '.join(known)})")
            continue
        low, high, whole = _LIMITS[key]
        if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
            errors.append(f"early_warning.{key}: must be a number, got {raw!r}")
            continue
        number = float(raw)
        if whole and number != int(number):
            errors.append(f"early_warning.{key}: must be a whole number, got {raw}")
            continue
        if not low <= number <= high:
            errors.append(f"early_warning.{key}: must be from {low:g} to {high:g}, got {raw}")
            continue
        values[key] = int(number) if whole else number
    if errors:
        raise ThresholdsError(errors)
    return Thresholds(**values)

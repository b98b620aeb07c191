"""The early warning: from a week of activity facts to flags, each with its reasons in words.

Rules (each reason adds points; a student is flagged at ``flag_score`` points, default 2):

- **inactive**: no activity of any kind for ``inactive_days`` days: 1 point; twice as long: 2.
- **missed deadlines**: work due in the last ``recent_weeks`` weeks and not handed in
  (discussion prompts, peer submissions): 1 point each while the student has not been active
  since it was due, half a point once they have; at most 2.
- **reviews not done**: peer reviews due and not done, counted the same way.
- **going but absent**: answered "going" to a tutorial and did not check in: half a point each,
  at most 1 (students miss a tutorial for many reasons; together with others it tells).
- **falling**: last week's activity at or below ``falling_ratio`` of the student's own earlier
  weekly mean (over at least two weeks, and at least ``falling_min_baseline``): 1 point.
- **quiet**: recent activity below the cohort's ``low_percentile``: half a point, and only ever
  added to another reason. Volume alone never flags anyone: a steady quiet student who does
  every piece of required work stays unflagged (``tests/unit/test_early_warning.py`` proves it
  for all inputs hypothesis finds).

Why points and not one rule: a single missed deadline or one thin week is common among students
who are fine; published early-warning systems (Macfadyen & Dawson 2010) find that several weak
activity signals together identify most students who go on to fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.insights.thresholds import Thresholds

__all__ = ["Flag", "Missed", "Reason", "StudentActivity", "assess", "percentile"]


@dataclass(frozen=True)
class Missed:
    """A piece of work not done: its title, and how many days ago it was due."""

    title: str
    days_ago: float


@dataclass(frozen=True)
class StudentActivity:
    """What one student did, as of the moment assessed.

    ``weekly`` counts activity per week, oldest first; the last entry is the week just ended.
    Item lists hold the titles of the work concerned (shown to tutors as reasons).
    """

    person_id: int
    weekly: tuple[int, ...]
    days_since_last: float | None  # None: no activity recorded at all
    missed_deadlines: tuple[Missed, ...] = ()
    reviews_not_done: tuple[Missed, ...] = ()
    going_but_absent: tuple[Missed, ...] = ()
    #: weeks of ``weekly`` the student was enrolled for (a newcomer has no baseline yet)
    weeks_observed: int | None = None


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    points: float


@dataclass(frozen=True)
class Flag:
    person_id: int
    flagged: bool
    score: float
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> str:
        return "; ".join(r.text for r in self.reasons)


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile by linear interpolation (numpy's default), 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _recent(student: StudentActivity, weeks: int) -> int:
    return sum(student.weekly[-weeks:]) if weeks > 0 else 0


def _titles(items: Sequence[Missed], limit: int = 3) -> str:
    shown = ", ".join(f"“{m.title}”" for m in items[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def _active_after(item: Missed, days_since_last: float | None) -> bool:
    return days_since_last is not None and days_since_last < item.days_ago


def _work_points(items: Sequence[Missed], days_since_last: float | None) -> float:
    """1 per item still unanswered (no activity since it was due), a half once the student has
    been active again: a student back after one bad week is not the one who has gone."""
    points = sum(0.5 if _active_after(m, days_since_last) else 1.0 for m in items)
    return float(min(points, 2.0))


def _since(items: Sequence[Missed], days_since_last: float | None) -> str:
    return " (active since)" if all(_active_after(m, days_since_last) for m in items) else ""


def _work_reason(
    code: str, head: str, items: Sequence[Missed], days_since_last: float | None
) -> Reason:
    """Work not handed in: what and which, worth less once the student is active again."""
    return Reason(
        code,
        f"{head}: {_titles(items)}" + _since(items, days_since_last),
        _work_points(items, days_since_last),
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def assess_one(student: StudentActivity, t: Thresholds, cohort_cut: float) -> Flag:
    """One student's flag; ``cohort_cut`` is the cohort's low-percentile recent activity."""
    reasons: list[Reason] = []
    days = student.days_since_last
    weeks_seen = (
        student.weeks_observed if student.weeks_observed is not None else len(student.weekly)
    )
    if days is None:
        if weeks_seen * 7 >= t.inactive_days:
            reasons.append(Reason("inactive", "no activity recorded at all", 2.0))
    elif days >= t.inactive_days:
        points = 2.0 if days >= 2 * t.inactive_days else 1.0
        reasons.append(Reason("inactive", f"no activity for {int(days)} days", points))
    if missed := student.missed_deadlines:
        head = f"missed {_plural(len(missed), 'deadline')}"
        reasons.append(_work_reason("missed", head, missed, days))
    if reviews := student.reviews_not_done:
        head = f"{_plural(len(reviews), 'peer review')} not done"
        reasons.append(_work_reason("reviews", head, reviews, days))
    if student.going_but_absent:
        n = len(student.going_but_absent)
        reasons.append(
            Reason(
                "absent",
                f"said “going” but did not attend {_plural(n, 'tutorial')}: "
                f"{_titles(student.going_but_absent)}",
                min(0.5 * n, 1.0),
            )
        )
    earlier = student.weekly[:-1][-max(weeks_seen - 1, 0) :] if weeks_seen > 1 else ()
    if len(earlier) >= 2:
        baseline = sum(earlier) / len(earlier)
        last = student.weekly[-1]
        # A fall is below the student's own level (strictly: steady is never falling, even
        # with falling_ratio = 1) and at most falling_ratio of it.
        if (
            baseline >= t.falling_min_baseline
            and last < baseline
            and last <= t.falling_ratio * baseline
        ):
            reasons.append(
                Reason(
                    "falling",
                    f"activity falling: {last} last week against {baseline:.1f} a week before",
                    1.0,
                )
            )
    if reasons and _recent(student, t.recent_weeks) < cohort_cut:
        reasons.append(
            Reason(
                "quiet",
                f"less active than {t.low_percentile}% of the cohort over "
                f"{_plural(t.recent_weeks, 'week')}",
                0.5,
            )
        )
    score = sum(r.points for r in reasons)
    return Flag(student.person_id, score >= t.flag_score, score, tuple(reasons))


def assess(students: Sequence[StudentActivity], t: Thresholds | None = None) -> list[Flag]:
    """Flags for a cohort, in the students' order."""
    t = t or Thresholds()
    cut = percentile([float(_recent(s, t.recent_weeks)) for s in students], t.low_percentile)
    return [assess_one(s, t, cut) for s in students]

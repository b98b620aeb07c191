"""Recompute participation credits from the raw records and compare them with the ledger.

The ledger is what marks are computed from; the raw records (posts, reviews, attendance) are
the evidence. ``reconcile`` proves they agree, item by item and student by student, so an exam
board can trust the ledger and each feature can be checked against the same rules:

- **discussion** (``discussion_post``, ``discussion_reply``, ``quality_points``): every
  *closed* prompt is re-scored with ``bot.discussions.score_student`` from all its
  recorded contributions (deleted ones included, as the scorer needs; a post edited after the
  student's close time counts with the words it had then, from the revision history), the
  student's approved extension, and, once the prompt is released, the tutor's quality points;
  the credits it returns are the expected ledger sums.
- **peer_review_completed**: one credit per submitted review, worth 1. On an exercise with
  ``agreement_weighting`` each credit is weighted by the reviewer's agreement (0-1), which the
  raw records do not hold: there every review must have exactly one live credit and the sum
  must lie between 0 and the number of reviews.
- **peer_score_received**: the final peer result of every *released* exercise.
- **tutorial_attendance**: 1 per recorded check-in.
- **adjustment**: ledger-native (a tutor's correction, audited); not recomputed.

Ledger rows are matched by ``(person, source, canonical item type, item id)``; a reversal row
(key ending ``#reversed``) cancels its original in sums and in counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Attendance,
    CalendarEvent,
    Contribution,
    ContributionRevision,
    DiscussionPrompt,
    DiscussionScore,
    Enrolment,
    EventKind,
    EventOccurrence,
    ExerciseStatus,
    LedgerEntry,
    LedgerSource,
    PeerExercise,
    PeerResult,
    PeerReview,
    PromptStatus,
    ReviewAssignment,
    Role,
)
from bot.discussions import PostFact, Rubric, score_student
from bot.due import ItemKind, extended_due, load_grants
from bot.gradebook.book import canonical_item_type

Key = tuple[int, str, str, int]  # person, source, canonical item type, item id
_MILLI = Decimal("0.001")


@dataclass
class Expected:
    points: Decimal = Decimal(0)
    count: int = 0
    weighted: bool = False  # credits weighted by agreement: the count must match, points <=


@dataclass(frozen=True)
class Discrepancy:
    person_id: int
    source: str
    item_type: str
    item_id: int
    expected: Decimal
    recorded: Decimal
    detail: str

    @property
    def text(self) -> str:
        return (
            f"person {self.person_id} {self.source} on {self.item_type} {self.item_id}: "
            f"expected {self.expected}, ledger {self.recorded} ({self.detail})"
        )


@dataclass(frozen=True)
class Reconciliation:
    module_id: int
    checked: int
    discrepancies: tuple[Discrepancy, ...]
    expected_totals: dict[tuple[int, str], Decimal] = field(default_factory=dict)
    ledger_totals: dict[tuple[int, str], Decimal] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.discrepancies


def _q(value: Decimal) -> Decimal:
    return value.quantize(_MILLI, rounding=ROUND_HALF_UP)


async def expected_credits(session: AsyncSession, module_id: int) -> dict[Key, Expected]:
    """What the ledger of a module should hold, recomputed from the raw records alone."""
    expected: dict[Key, Expected] = defaultdict(Expected)
    students = {
        pid
        for (pid,) in (
            await session.execute(
                select(Enrolment.person_id).where(
                    Enrolment.module_id == module_id, Enrolment.role == Role.STUDENT
                )
            )
        ).all()
    }
    await _discussions(session, module_id, students, expected)
    await _peer(session, module_id, expected)
    await _attendance(session, module_id, expected)
    return expected


async def _discussions(
    session: AsyncSession, module_id: int, students: set[int], expected: dict[Key, Expected]
) -> None:
    prompts = (
        await session.execute(
            select(
                DiscussionPrompt.id,
                DiscussionPrompt.rubric,
                DiscussionPrompt.closes_at,
                DiscussionPrompt.released_at,
            ).where(
                DiscussionPrompt.module_id == module_id,
                DiscussionPrompt.status == PromptStatus.CLOSED,
            )
        )
    ).all()
    for prompt_id, rubric_data, closes_at, released_at in prompts:
        rubric = Rubric.from_dict(rubric_data or {})
        contributions = (
            await session.execute(
                select(
                    Contribution.id,
                    Contribution.message_id,
                    Contribution.person_id,
                    Contribution.author_platform_id,
                    Contribution.created_at,
                    Contribution.words,
                    Contribution.parent_message_id,
                    Contribution.mentions,
                    Contribution.deleted_at,
                ).where(Contribution.prompt_id == prompt_id)
            )
        ).all()
        history: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
        ids = [row[0] for row in contributions]
        if ids:
            for cid, replaced_at, words in (
                await session.execute(
                    select(
                        ContributionRevision.contribution_id,
                        ContributionRevision.replaced_at,
                        ContributionRevision.words,
                    )
                    .where(ContributionRevision.contribution_id.in_(ids))
                    .order_by(ContributionRevision.revision)
                )
            ).all():
                history[cid].append((replaced_at, words))
        known = {author: str(pid) for _, _, pid, author, *_ in contributions if pid is not None}
        grants = await load_grants(session, [(ItemKind.PROMPT, prompt_id)])
        extensions = {
            pid: until for (_kind, _item, pid), until in grants.extensions(ItemKind.PROMPT).items()
        }
        quality: dict[int, Decimal] = {}
        if released_at is not None:  # quality points are credited when the prompt is released
            quality = {
                pid: Decimal(q)
                for pid, q in (
                    await session.execute(
                        select(DiscussionScore.person_id, DiscussionScore.quality_points).where(
                            DiscussionScore.prompt_id == prompt_id
                        )
                    )
                ).all()
                if q is not None
            }
        authors = {pid for _, _, pid, *_ in contributions if pid is not None}
        for pid in sorted((authors | set(quality)) & students):
            ext = extensions.get(pid)
            close = extended_due(closes_at, ext)
            posts = [
                PostFact(
                    message_id=mid,
                    author_id=str(author_pid) if author_pid is not None else f"u{author}",
                    created_at=created,
                    words=_words_at(words, history.get(cid, []), close),
                    parent_message_id=parent,
                    mentions=tuple(known.get(str(m), f"u{m}") for m in (mentions or [])),
                    deleted=deleted is not None,
                    is_student=author_pid is not None and author_pid in students,
                )
                for cid, mid, author_pid, author, created, words, parent, mentions, deleted in (
                    contributions
                )
            ]
            score = score_student(
                rubric, str(pid), posts, closes_at, ext, quality_points=quality.get(pid)
            )
            for credit in score.credits:
                cell = expected[(pid, credit.kind, "prompt", prompt_id)]
                cell.points += credit.points
                cell.count += 1


def _words_at(current: int, history: list[tuple[datetime, int]], at: datetime) -> int:
    """The words a post had at its author's close time: later edits do not count."""
    for replaced_at, words in history:
        if replaced_at > at:
            return words
    return current


async def _peer(session: AsyncSession, module_id: int, expected: dict[Key, Expected]) -> None:
    weighted = {
        eid
        for (eid,) in (
            await session.execute(
                select(PeerExercise.id).where(
                    PeerExercise.module_id == module_id, PeerExercise.agreement_weighting.is_(True)
                )
            )
        ).all()
    }
    reviews = await session.execute(
        select(ReviewAssignment.reviewer_id, ReviewAssignment.exercise_id, func.count())
        .join(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
        .where(
            PeerExercise.module_id == module_id,
            PeerExercise.status != ExerciseStatus.CANCELLED,
        )
        .group_by(ReviewAssignment.reviewer_id, ReviewAssignment.exercise_id)
    )
    for reviewer, exercise_id, count in reviews.all():
        cell = expected[
            (reviewer, LedgerSource.PEER_REVIEW_COMPLETED.value, "exercise", exercise_id)
        ]
        cell.points += Decimal(count)
        cell.count += int(count)
        cell.weighted = exercise_id in weighted
    results = await session.execute(
        select(PeerResult.person_id, PeerResult.exercise_id, PeerResult.final)
        .join(PeerExercise, PeerExercise.id == PeerResult.exercise_id)
        .where(
            PeerExercise.module_id == module_id,
            PeerExercise.status == ExerciseStatus.RELEASED,
            PeerResult.final.is_not(None),
        )
    )
    for pid, exercise_id, final in results.all():
        cell = expected[(pid, LedgerSource.PEER_SCORE_RECEIVED.value, "exercise", exercise_id)]
        cell.points += _q(Decimal(final))
        cell.count += 1


async def _attendance(session: AsyncSession, module_id: int, expected: dict[Key, Expected]) -> None:
    rows = await session.execute(
        select(Attendance.person_id, Attendance.occurrence_id)
        .join(EventOccurrence, EventOccurrence.id == Attendance.occurrence_id)
        .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
        .where(CalendarEvent.module_id == module_id, CalendarEvent.kind == EventKind.TUTORIAL)
    )
    for pid, occurrence_id in rows.all():
        cell = expected[(pid, LedgerSource.TUTORIAL_ATTENDANCE.value, "occurrence", occurrence_id)]
        cell.points += Decimal(1)
        cell.count += 1


async def ledger_credits(session: AsyncSession, module_id: int) -> dict[Key, Expected]:
    """The ledger's sums and live credit counts per person, source and item."""
    rows = await session.execute(
        select(
            LedgerEntry.person_id,
            LedgerEntry.source,
            LedgerEntry.item_type,
            LedgerEntry.item_id,
            LedgerEntry.idempotency_key,
            LedgerEntry.points,
        ).where(LedgerEntry.module_id == module_id, LedgerEntry.source != LedgerSource.ADJUSTMENT)
    )
    recorded: dict[Key, Expected] = defaultdict(Expected)
    for pid, source, item_type, item_id, key, points in rows.all():
        kind = canonical_item_type(item_type)
        cell = recorded[(pid, str(source), kind.value if kind else item_type, item_id)]
        cell.points += Decimal(points)
        cell.count += -1 if key.endswith("#reversed") else 1
    return recorded


def compare(
    expected: dict[Key, Expected], recorded: dict[Key, Expected], module_id: int = 0
) -> Reconciliation:
    """Item-by-item comparison plus per-student, per-source totals both ways."""
    problems: list[Discrepancy] = []
    keys: Iterable[Key] = sorted(set(expected) | set(recorded))
    checked = 0
    exp_totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    led_totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for key in keys:
        checked += 1
        want = expected.get(key, Expected())
        have = recorded.get(key, Expected())
        pid, source, item_type, item_id = key
        exp_totals[(pid, source)] += _q(want.points)
        led_totals[(pid, source)] += _q(have.points)
        if _q(want.points) == _q(have.points):
            continue
        if want.weighted and have.count == want.count and Decimal(0) <= have.points <= want.points:
            exp_totals[(pid, source)] += _q(have.points) - _q(want.points)
            continue
        detail = (
            "missing from the ledger"
            if have.count == 0 and have.points == 0
            else "not in the raw records"
            if want.count == 0
            else f"{have.count} live credits for {want.count} expected"
        )
        problems.append(
            Discrepancy(pid, source, item_type, item_id, _q(want.points), _q(have.points), detail)
        )
    return Reconciliation(
        module_id,
        checked,
        tuple(problems),
        {k: v for k, v in exp_totals.items() if v != 0},
        {k: v for k, v in led_totals.items() if v != 0},
    )


async def reconcile(session: AsyncSession, module_id: int) -> Reconciliation:
    expected = await expected_credits(session, module_id)
    recorded = await ledger_credits(session, module_id)
    return compare(expected, recorded, module_id)

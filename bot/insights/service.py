"""The early warning for one module, as of a moment: facts gathered here, judged by ``warning``.

Activity of any kind counts (posts, peer submissions and reviews, tutorial check-ins, RSVPs);
missed work is what was due in the last ``recent_weeks`` weeks and is still not handed in
(an approved extension that has not run out yet is not missed). Read-only: nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.access.permissions import roster_people
from bot.db.models import (
    AssignmentStatus,
    Attendance,
    CalendarEvent,
    Contribution,
    DiscussionPrompt,
    EarlyWarningSettings,
    EventKind,
    EventOccurrence,
    Extension,
    ExtensionStatus,
    Module,
    OccurrenceStatus,
    PeerExercise,
    PeerReview,
    PeerSubmission,
    Person,
    ReviewAssignment,
    Role,
    Rsvp,
    RsvpResponse,
)
from bot.db.ops import earliest
from bot.due import COLUMN, HAND_INS, HandIn
from bot.insights.thresholds import Thresholds, parse_thresholds
from bot.insights.warning import Flag, Missed, StudentActivity, assess

__all__ = [
    "HISTORY_WEEKS",
    "SOURCES",
    "ModuleInsights",
    "StudentFlag",
    "WeeklyActivity",
    "activities",
    "module_insights",
    "module_students",
    "save_thresholds",
    "thresholds_for",
    "weekly_activity",
]

#: Weeks of activity looked at for each student's own trend.
HISTORY_WEEKS = 6
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)


@dataclass(frozen=True)
class StudentFlag:
    person_id: int
    name: str
    flag: Flag
    activity: StudentActivity


async def thresholds_for(session: AsyncSession, cohort_id: int) -> Thresholds:
    row = await session.get(EarlyWarningSettings, cohort_id)
    return parse_thresholds(row.thresholds) if row is not None else Thresholds()


async def save_thresholds(
    session: AsyncSession, cohort_id: int, data: dict[str, Any] | None, now: datetime
) -> Thresholds:
    """Store a programme file's ``[early_warning]`` table (``None``: back to the defaults)."""
    thresholds = parse_thresholds(data)
    row = await session.get(EarlyWarningSettings, cohort_id)
    if data is None:
        if row is not None:
            await session.delete(row)
        return thresholds
    if row is None:
        session.add(
            EarlyWarningSettings(cohort_id=cohort_id, thresholds=dict(data), updated_at=now)
        )
    else:
        row.thresholds = dict(data)
        row.updated_at = now
    return thresholds


async def module_students(session: AsyncSession, module_id: int) -> list[tuple[int, str]]:
    """Active students of a module (not erased), by name."""
    rows = await session.execute(
        roster_people(module_id, Role.STUDENT)
        .with_only_columns(Person.id, Person.display_name)
        .order_by(Person.display_name, Person.id)
    )
    return [(pid, name) for pid, name in rows.all()]


#: The kinds of activity, as the dashboard's participation plot names them.
SOURCES = ("Discussion posts", "Peer submissions", "Peer reviews", "Check-ins", "RSVPs")


def _done(
    item: type[DiscussionPrompt | PeerExercise | CalendarEvent],
    person_id: InstrumentedAttribute[int | None],
    at: InstrumentedAttribute[datetime],
) -> Select[Any]:
    """One kind of activity's columns: who, when, and the module and title of its item (the
    caller joins ``item`` in)."""
    return select(person_id, at, item.module_id, item.title)


def activities() -> list[Select[Any]]:
    """Every kind of activity, one select per ``SOURCES``: (person id, when, the item's module,
    its title). The early warning counts them per module; the dashboard's student timeline
    lists one person's, with more columns added."""
    return [
        _done(DiscussionPrompt, Contribution.person_id, Contribution.created_at).join(
            DiscussionPrompt, DiscussionPrompt.id == Contribution.prompt_id
        ),
        _done(PeerExercise, PeerSubmission.person_id, PeerSubmission.submitted_at).join(
            PeerExercise, PeerExercise.id == PeerSubmission.exercise_id
        ),
        _done(PeerExercise, ReviewAssignment.reviewer_id, PeerReview.submitted_at)
        .join(ReviewAssignment, ReviewAssignment.id == PeerReview.assignment_id)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id),
        _done(CalendarEvent, Attendance.person_id, Attendance.checked_in_at)
        .join(EventOccurrence, EventOccurrence.id == Attendance.occurrence_id)
        .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id),
        _done(CalendarEvent, Rsvp.person_id, Rsvp.updated_at)
        .join(EventOccurrence, EventOccurrence.id == Rsvp.occurrence_id)
        .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id),
    ]


def _activity_sources(module_id: int) -> list[Select[Any]]:
    """(person id, when, ...) of every kind of activity in a module, one select per ``SOURCES``."""
    return [q.where(q.selected_columns[2] == module_id) for q in activities()]


@dataclass(frozen=True)
class WeeklyActivity:
    """Activity counts per week, oldest first, the last week ending at the moment asked."""

    per_student: dict[int, list[int]]
    last_seen: dict[int, datetime]
    #: name in ``SOURCES`` -> counts per week over all students
    per_source: dict[str, list[int]]


async def weekly_activity(
    session: AsyncSession,
    module_id: int,
    now: datetime,
    weeks: int,
    students: Iterable[int] | None = None,
) -> WeeklyActivity:
    """Per student and per kind of activity: counts per week (the last ending at ``now``), and
    each student's last activity of any kind before ``now``."""
    start = now - weeks * WEEK
    wanted = set(students) if students is not None else None
    counts: dict[int, list[int]] = defaultdict(lambda: [0] * weeks)
    last: dict[int, datetime] = {}
    per_source: dict[str, list[int]] = {name: [0] * weeks for name in SOURCES}
    sources = list(zip(SOURCES, _activity_sources(module_id), strict=True))
    for name, source in sources:
        pid_col, at_col = source.selected_columns[0], source.selected_columns[1]
        # Weeks counted by the database (a CASE over the week boundaries: portable, and a few
        # hundred rows back instead of one per post).
        bucket = case(
            *((at_col > now - (k + 1) * WEEK, weeks - 1 - k) for k in range(weeks)), else_=-1
        )
        rows = await session.execute(
            source.with_only_columns(pid_col, bucket, func.count(), func.max(at_col))
            .where(at_col > start, at_col <= now)
            .group_by(pid_col, bucket)
        )
        for pid, index, n, latest in rows.all():
            if pid is None or not 0 <= index < weeks:
                continue
            counts[pid][index] += n
            per_source[name][index] += n
            if pid not in last or latest > last[pid]:
                last[pid] = latest
    if wanted is None or any(pid not in last for pid in wanted):
        # Last seen before the window, for students quiet all through it.
        for _name, source in sources:
            pid_col, at_col = source.selected_columns[0], source.selected_columns[1]
            stmt = source.with_only_columns(pid_col, func.max(at_col)).where(at_col <= start)
            if wanted is not None:
                stmt = stmt.where(pid_col.in_(sorted(p for p in wanted if p not in last)))
            for pid, at in (await session.execute(stmt.group_by(pid_col))).all():
                if pid is not None and at is not None and pid not in last:
                    last[pid] = at
    return WeeklyActivity(dict(counts), last, per_source)


async def _extended(
    session: AsyncSession, now: datetime, col: Any, ids: Sequence[int]
) -> set[tuple[int, int]]:
    """(person, item id) pairs with an approved extension still running (``col``: the
    extension's column naming the item)."""
    if not ids:
        return set()
    rows = await session.execute(
        select(Extension.person_id, col).where(
            col.in_(ids),
            Extension.status == ExtensionStatus.APPROVED,
            Extension.new_due_at > now,
        )
    )
    return {(pid, iid) for pid, iid in rows.all()}


async def _not_handed_in(
    session: AsyncSession,
    work: HandIn,
    module_id: int,
    students: set[int],
    now: datetime,
    since: datetime,
) -> list[tuple[int, Missed]]:
    """(student, missed item) for each item of this kind due in (since, now] that a student
    neither handed in nor holds a running extension for."""
    items = (await session.execute(work.due_between(module_id, now, since))).all()
    if not items:
        return []
    ids = [i.id for i in items]
    rows = await session.execute(
        select(work.person_id, work.item_id).where(work.item_id.in_(ids)).distinct()
    )
    skip = {(pid, iid) for pid, iid in rows.all()}
    skip |= await _extended(session, now, COLUMN[work.kind], ids)
    return [
        (pid, Missed(title, (now - due) / DAY))
        for iid, title, due in items
        for pid in students
        if (pid, iid) not in skip
    ]


async def _missed_work(
    session: AsyncSession, module_id: int, students: set[int], now: datetime, since: datetime
) -> tuple[dict[int, list[Missed]], dict[int, list[Missed]], dict[int, list[Missed]]]:
    missed: dict[int, list[Missed]] = defaultdict(list)
    reviews: dict[int, list[Missed]] = defaultdict(list)
    absent: dict[int, list[Missed]] = defaultdict(list)

    def days_ago(when: datetime) -> float:
        return (now - when) / DAY

    for work in HAND_INS:
        for pid, item in await _not_handed_in(session, work, module_id, students, now, since):
            missed[pid].append(item)
    due = func.coalesce(ReviewAssignment.due_at, PeerExercise.review_due_at)
    review_rows = await session.execute(
        select(ReviewAssignment.reviewer_id, PeerExercise.title, due)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
        .where(
            PeerExercise.module_id == module_id,
            due > since,
            due <= now,
            (ReviewAssignment.status == AssignmentStatus.PENDING)
            | (ReviewAssignment.end_reason == "missed"),
        )
    )
    for pid, title, when in review_rows.all():
        if pid in students:
            reviews[pid].append(Missed(f"review for {title}", days_ago(when)))
    rsvp_rows = await session.execute(
        select(Rsvp.person_id, CalendarEvent.title, EventOccurrence.starts_at)
        .join(EventOccurrence, EventOccurrence.id == Rsvp.occurrence_id)
        .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
        .outerjoin(
            Attendance,
            (Attendance.occurrence_id == Rsvp.occurrence_id)
            & (Attendance.person_id == Rsvp.person_id),
        )
        .where(
            CalendarEvent.module_id == module_id,
            CalendarEvent.kind == EventKind.TUTORIAL,
            EventOccurrence.status == OccurrenceStatus.SCHEDULED,
            Rsvp.response == RsvpResponse.GOING,
            EventOccurrence.ends_at > since,
            EventOccurrence.ends_at <= now,
            Attendance.id.is_(None),
        )
    )
    for pid, title, starts in rsvp_rows.all():
        if pid in students:
            absent[pid].append(Missed(f"{title} {starts:%d %b}", days_ago(starts)))
    return missed, reviews, absent


async def _module_start(session: AsyncSession, module_id: int) -> datetime | None:
    """When the module's first item opened: weeks before it are not "no activity"."""
    return await earliest(
        session,
        select(func.min(DiscussionPrompt.opens_at)).where(DiscussionPrompt.module_id == module_id),
        select(func.min(PeerExercise.created_at)).where(PeerExercise.module_id == module_id),
        select(func.min(EventOccurrence.starts_at))
        .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
        .where(CalendarEvent.module_id == module_id),
    )


@dataclass(frozen=True)
class ModuleInsights:
    flags: list[StudentFlag]
    activity: WeeklyActivity
    thresholds: Thresholds


async def module_insights(
    session: AsyncSession,
    module: Module,
    now: datetime,
    thresholds: Thresholds | None = None,
    students: Sequence[tuple[int, str]] | None = None,
) -> ModuleInsights:
    """Every student's flag in ``module`` as of ``now`` (flagged first, highest score first),
    and the weekly activity behind them (the dashboard plots both)."""
    t = thresholds or await thresholds_for(session, module.cohort_id)
    people = list(students) if students is not None else await module_students(session, module.id)
    ids = {pid for pid, _ in people}
    start = await _module_start(session, module.id)
    weeks_open = 0  # nothing has happened in the module yet: nobody can be inactive
    if start is not None and start <= now:
        weeks_open = max(1, min(HISTORY_WEEKS, int((now - start) / WEEK) + 1))
    activity = await weekly_activity(session, module.id, now, HISTORY_WEEKS, ids)
    counts, last = activity.per_student, activity.last_seen
    since = now - t.recent_weeks * WEEK
    missed, reviews, absent = await _missed_work(session, module.id, ids, now, since)
    activities = [
        StudentActivity(
            person_id=pid,
            weekly=tuple(counts.get(pid, [0] * HISTORY_WEEKS)),
            days_since_last=(now - last[pid]) / DAY if pid in last else None,
            missed_deadlines=tuple(missed.get(pid, ())),
            reviews_not_done=tuple(reviews.get(pid, ())),
            going_but_absent=tuple(absent.get(pid, ())),
            weeks_observed=weeks_open,
        )
        for pid, _ in people
    ]
    flags = assess(activities, t)
    names = dict(people)
    result = [
        StudentFlag(a.person_id, names[a.person_id], f, a)
        for a, f in zip(activities, flags, strict=True)
    ]
    result.sort(key=lambda s: (not s.flag.flagged, -s.flag.score, s.name))
    return ModuleInsights(result, activity, t)

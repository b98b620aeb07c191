"""The module page: participation, timeliness, marks, turnout and who is at risk."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dashboard.shared import Upcoming, _count_by, _upcoming
from bot.dashboard.viewer import Viewer, _staff_module
from bot.db.models import (
    Attendance,
    CalendarEvent,
    Cohort,
    EventKind,
    EventOccurrence,
    Module,
    OccurrenceStatus,
    PeerExercise,
    Rsvp,
    RsvpResponse,
)
from bot.due import HAND_INS, HandIn, ItemKind
from bot.gradebook.loading import load_module_book
from bot.insights.service import HISTORY_WEEKS, SOURCES, StudentFlag, module_insights

MARK_BINS = ((0, 40), (40, 50), (50, 60), (60, 70), (70, 80), (80, 101))


@dataclass(frozen=True)
class Timeliness:
    title: str
    kind: str
    on_time: int
    late: int
    missing: int


@dataclass(frozen=True)
class TutorialTurnout:
    label: str
    going: int
    attended: int
    attended_going: int


@dataclass
class ModulePage:
    module: Module
    students: int
    week_labels: list[str]
    participation: dict[str, list[int]]
    timeliness: list[Timeliness]
    mark_bins: list[str]
    mark_counts: list[int]
    marks_status: str
    turnout: list[TutorialTurnout]
    at_risk: list[StudentFlag]
    others: int
    exercises: list[tuple[int, str]]
    upcoming: list[Upcoming] = field(default_factory=list)


async def module_page(
    session: AsyncSession, viewer: Viewer, module_id: int, now: datetime
) -> ModulePage:
    module = await _staff_module(session, viewer, module_id)
    insights = await module_insights(session, module, now)
    people = {f.person_id for f in insights.flags}
    weeks = HISTORY_WEEKS
    labels = [f"{(now - timedelta(weeks=weeks - i)):%d %b}" for i in range(weeks)]
    timeliness = await _timeliness(session, module.id, people, now)
    zone = (
        await session.execute(select(Cohort.timezone).where(Cohort.id == module.cohort_id))
    ).scalar() or "UTC"
    book = await load_module_book(session, module, zone, now, include_withdrawn=False)
    counts = [0] * len(MARK_BINS)
    for row in book.students:
        mark = row.book.mark.mark
        if mark is None:
            continue
        for i, (low, high) in enumerate(MARK_BINS):
            if low <= mark < high:
                counts[i] += 1
                break
    bins = [f"{low}–{min(high, 100) - (0 if high > 100 else 1)}" for low, high in MARK_BINS]
    exercises = [
        (eid, title)
        for eid, title in (
            await session.execute(
                select(PeerExercise.id, PeerExercise.title)
                .where(PeerExercise.module_id == module.id)
                .order_by(PeerExercise.submission_due_at)
            )
        ).all()
    ]
    flagged = [f for f in insights.flags if f.flag.flagged]
    return ModulePage(
        module=module,
        students=len(people),
        week_labels=labels,
        participation={name: insights.activity.per_source[name] for name in SOURCES},
        timeliness=timeliness,
        mark_bins=bins,
        mark_counts=counts,
        marks_status=book.status_label,
        turnout=await _turnout(session, module.id, now),
        at_risk=flagged,
        others=len(insights.flags) - len(flagged),
        exercises=exercises,
        upcoming=await _upcoming(session, {module.id: module.code}, now),
    )


async def _late_counts(session: AsyncSession, per_person: Any) -> dict[int, Counter[str]]:
    """Per item: how many people handed in on time, and how many only late."""
    rows = await session.execute(
        select(per_person.c.item, per_person.c.all_late, func.count()).group_by(
            per_person.c.item, per_person.c.all_late
        )
    )
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for item, late, n in rows.all():
        counts[item]["late" if late else "on_time"] += n
    return counts


#: What the timeliness table calls each kind of hand-in.
_HAND_IN_LABEL = {ItemKind.PROMPT: "discussion", ItemKind.SUBMISSION: "peer submission"}


async def _item_timeliness(
    session: AsyncSession,
    items: Sequence[Row[tuple[int, str, datetime]]],
    work: HandIn,
    students: set[int],
) -> list[tuple[datetime, Timeliness]]:
    """On time / late / missing for each (id, title, due) item, from its hand-in rows: one rule
    for prompts and peer submissions alike, so a student counts as late only when every one of
    their hand-ins for the item was late."""
    all_late = func.min(case((work.late.is_(True), 1), else_=0)).label("all_late")
    per_person = (
        select(work.item_id.label("item"), all_late)
        .where(work.item_id.in_([i.id for i in items]), work.person_id.in_(sorted(students)))
        .group_by(work.item_id, work.person_id)
        .subquery()
    )
    state = await _late_counts(session, per_person)
    found: list[tuple[datetime, Timeliness]] = []
    for iid, title, due in items:
        c = state[iid]
        missing = len(students) - c["on_time"] - c["late"]
        kind = _HAND_IN_LABEL[work.kind]
        found.append((due, Timeliness(title, kind, c["on_time"], c["late"], missing)))
    return found


async def _timeliness(
    session: AsyncSession, module_id: int, students: set[int], now: datetime
) -> list[Timeliness]:
    """On time / late / missing for every item already due (prompts, peer submissions)."""
    result: list[tuple[datetime, Timeliness]] = []
    for work in HAND_INS:
        items = (await session.execute(work.due_between(module_id, now))).all()
        if items:
            result += await _item_timeliness(session, items, work, students)
    result.sort(key=lambda pair: pair[0])
    return [t for _, t in result]


async def _turnout(session: AsyncSession, module_id: int, now: datetime) -> list[TutorialTurnout]:
    occurrences = (
        await session.execute(
            select(EventOccurrence.id, CalendarEvent.title, EventOccurrence.starts_at)
            .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
            .where(
                CalendarEvent.module_id == module_id,
                CalendarEvent.kind == EventKind.TUTORIAL,
                EventOccurrence.status == OccurrenceStatus.SCHEDULED,
                EventOccurrence.starts_at <= now,
            )
            .order_by(EventOccurrence.starts_at)
        )
    ).all()
    if not occurrences:
        return []
    ids = [o.id for o in occurrences]
    going = await _count_by(
        session,
        Rsvp.occurrence_id,
        Rsvp.occurrence_id.in_(ids),
        Rsvp.response == RsvpResponse.GOING,
    )
    came = await _count_by(session, Attendance.occurrence_id, Attendance.occurrence_id.in_(ids))
    both = await _count_by(
        session,
        Attendance.occurrence_id,
        Attendance.occurrence_id.in_(ids),
        Rsvp.response == RsvpResponse.GOING,
        join=(
            Rsvp,
            (Rsvp.occurrence_id == Attendance.occurrence_id)
            & (Rsvp.person_id == Attendance.person_id),
        ),
    )
    return [
        TutorialTurnout(f"{starts:%d %b}", going.get(oid, 0), came.get(oid, 0), both.get(oid, 0))
        for oid, _title, starts in occurrences
    ]

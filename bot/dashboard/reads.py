"""What the dashboard's pages show, read through the services and checked against the viewer.

Read-only: nothing here writes. Every function takes the ``Viewer`` (who is signed in) and
refuses what their role does not allow: tutors see their modules, programme admins every
module of their cohort, students only their own page.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AssignmentStatus,
    Attendance,
    CalendarEvent,
    Cohort,
    Contribution,
    DiscussionPrompt,
    Enrolment,
    EnrolmentStatus,
    EventKind,
    EventOccurrence,
    ExerciseStatus,
    Extension,
    LedgerEntry,
    MarkRelease,
    Module,
    Notice,
    NoticeStatus,
    OccurrenceStatus,
    PeerExercise,
    PeerResult,
    PeerReview,
    PeerSubmission,
    Person,
    PromptStatus,
    ReviewAssignment,
    Role,
    Rsvp,
    RsvpResponse,
    TutorMessage,
)
from bot.due import reached
from bot.errors import NotFound, PermissionDenied
from bot.gradebook.export import ExportFile
from bot.gradebook.exporting import build_module_export, build_programme_export, check_format
from bot.gradebook.loading import load_module_book
from bot.insights.service import HISTORY_WEEKS, SOURCES, StudentFlag, module_insights

__all__ = [
    "ExercisePage",
    "ModulePage",
    "Overview",
    "StudentPage",
    "Viewer",
    "exercise_page",
    "load_viewer",
    "module_export",
    "module_page",
    "overview",
    "programme_export",
    "student_page",
]

NOT_YOURS = "This page is for the module's tutors and the programme admins."
STUDENT_ONLY_OWN = "Students can open only their own page."
MARK_BINS = ((0, 40), (40, 50), (50, 60), (60, 70), (70, 80), (80, 101))


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, and their role in each module of their cohort."""

    person_id: int
    name: str
    cohort_id: int
    roles: dict[int, Role]
    cohort_modules: frozenset[int] = frozenset()

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles.values()

    @property
    def is_student(self) -> bool:
        return Role.STUDENT in self.roles.values()

    @property
    def is_staff(self) -> bool:
        return self.is_admin or Role.TUTOR in self.roles.values()

    def staff_modules(self) -> set[int]:
        if self.is_admin:
            return set(self.cohort_modules)
        return {m for m, r in self.roles.items() if r in (Role.TUTOR, Role.ADMIN)}

    def may_see_module(self, module_id: int) -> bool:
        return module_id in self.staff_modules()


def _counts(rows: Any) -> dict[int, int]:
    return {int(k): int(v) for k, v in rows}


def _names(rows: Any) -> dict[int, str]:
    return {int(k): str(v) for k, v in rows}


async def load_viewer(session: AsyncSession, person_id: int, cohort_id: int) -> Viewer:
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise PermissionDenied("You are no longer on this cohort's roster.")
    modules = (
        (await session.execute(select(Module.id).where(Module.cohort_id == cohort_id)))
        .scalars()
        .all()
    )
    rows = await session.execute(
        select(Enrolment.module_id, Enrolment.role).where(
            Enrolment.person_id == person_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Enrolment.module_id.in_(modules),
        )
    )
    roles = {mid: role for mid, role in rows.all()}
    if not roles:
        raise PermissionDenied("You are no longer on this cohort's roster.")
    return Viewer(person.id, person.display_name, cohort_id, roles, frozenset(modules))


async def _staff_module(session: AsyncSession, viewer: Viewer, module_id: int) -> Module:
    module = await session.get(Module, module_id)
    if module is None or module.cohort_id != viewer.cohort_id:
        raise NotFound("There is no such module in your cohort.")
    if not viewer.may_see_module(module.id):
        raise PermissionDenied(NOT_YOURS)
    return module


# --------------------------------------------------------------------------- overview


@dataclass(frozen=True)
class Upcoming:
    module_code: str
    title: str
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class ModuleSummary:
    id: int
    code: str
    title: str
    term: str
    students: int
    open_prompts: int
    open_exercises: int
    released: int
    awaiting_release: int
    next_due: list[Upcoming]


@dataclass(frozen=True)
class Overview:
    cohort: str
    modules: list[ModuleSummary]
    upcoming: list[Upcoming]
    students: int


async def overview(session: AsyncSession, viewer: Viewer, now: datetime) -> Overview:
    """The cohort at a glance: the viewer's modules, what is open, what is due, releases."""
    if not viewer.is_staff:
        raise PermissionDenied(NOT_YOURS)
    cohort = await session.get(Cohort, viewer.cohort_id)
    assert cohort is not None
    ids = sorted(viewer.staff_modules())
    modules = (
        (await session.execute(select(Module).where(Module.id.in_(ids)).order_by(Module.code)))
        .scalars()
        .all()
    )
    students = _counts(
        (
            await session.execute(
                select(Enrolment.module_id, func.count())
                .where(
                    Enrolment.module_id.in_(ids),
                    Enrolment.role == Role.STUDENT,
                    Enrolment.status == EnrolmentStatus.ACTIVE,
                )
                .group_by(Enrolment.module_id)
            )
        ).all()
    )
    distinct_students = (
        await session.execute(
            select(func.count(func.distinct(Enrolment.person_id))).where(
                Enrolment.module_id.in_(ids),
                Enrolment.role == Role.STUDENT,
                Enrolment.status == EnrolmentStatus.ACTIVE,
            )
        )
    ).scalar_one()
    open_prompts = _counts(
        (
            await session.execute(
                select(DiscussionPrompt.module_id, func.count())
                .where(
                    DiscussionPrompt.module_id.in_(ids),
                    DiscussionPrompt.status == PromptStatus.OPEN,
                )
                .group_by(DiscussionPrompt.module_id)
            )
        ).all()
    )
    open_exercises = _counts(
        (
            await session.execute(
                select(PeerExercise.module_id, func.count())
                .where(
                    PeerExercise.module_id.in_(ids),
                    PeerExercise.status.in_([ExerciseStatus.OPEN, ExerciseStatus.ALLOCATED]),
                )
                .group_by(PeerExercise.module_id)
            )
        ).all()
    )
    released = _counts(
        (
            await session.execute(
                select(MarkRelease.module_id, func.count())
                .where(MarkRelease.module_id.in_(ids))
                .group_by(MarkRelease.module_id)
            )
        ).all()
    )
    closed_items = Counter[int]()
    for mid, n in (
        await session.execute(
            select(DiscussionPrompt.module_id, func.count())
            .where(
                DiscussionPrompt.module_id.in_(ids),
                DiscussionPrompt.status == PromptStatus.CLOSED,
            )
            .group_by(DiscussionPrompt.module_id)
        )
    ).all():
        closed_items[mid] += n
    for mid, n in (
        await session.execute(
            select(PeerExercise.module_id, func.count())
            .where(PeerExercise.module_id.in_(ids), PeerExercise.review_due_at <= now)
            .group_by(PeerExercise.module_id)
        )
    ).all():
        closed_items[mid] += n
    upcoming = await _upcoming(session, {m.id: m.code for m in modules}, now)
    by_module: dict[str, list[Upcoming]] = defaultdict(list)
    for u in upcoming:
        by_module[u.module_code].append(u)
    summaries = [
        ModuleSummary(
            m.id,
            m.code,
            m.title,
            m.term,
            students.get(m.id, 0),
            open_prompts.get(m.id, 0),
            open_exercises.get(m.id, 0),
            released.get(m.id, 0),
            max(closed_items[m.id] - released.get(m.id, 0), 0),
            by_module[m.code][:3],
        )
        for m in modules
    ]
    return Overview(cohort.name, summaries, upcoming[:12], distinct_students)


async def _upcoming(
    session: AsyncSession, codes: dict[int, str], now: datetime, days: int = 28
) -> list[Upcoming]:
    until = now + timedelta(days=days)
    ids = list(codes)
    found: list[Upcoming] = []
    for mid, title, when in (
        await session.execute(
            select(
                DiscussionPrompt.module_id, DiscussionPrompt.title, DiscussionPrompt.closes_at
            ).where(
                DiscussionPrompt.module_id.in_(ids),
                DiscussionPrompt.status != PromptStatus.CANCELLED,
                DiscussionPrompt.closes_at > now,
                DiscussionPrompt.closes_at <= until,
            )
        )
    ).all():
        found.append(Upcoming(codes[mid], title, "discussion closes", when))
    for mid, title, sub, rev in (
        await session.execute(
            select(
                PeerExercise.module_id,
                PeerExercise.title,
                PeerExercise.submission_due_at,
                PeerExercise.review_due_at,
            ).where(
                PeerExercise.module_id.in_(ids),
                PeerExercise.status != ExerciseStatus.CANCELLED,
                PeerExercise.review_due_at > now,
                PeerExercise.submission_due_at <= until,
            )
        )
    ).all():
        if not reached(sub, now):
            found.append(Upcoming(codes[mid], title, "submission due", sub))
        if rev <= until:
            found.append(Upcoming(codes[mid], title, "reviews due", rev))
    for mid, title, kind, when in (
        await session.execute(
            select(
                CalendarEvent.module_id,
                CalendarEvent.title,
                CalendarEvent.kind,
                EventOccurrence.starts_at,
            )
            .join(EventOccurrence, EventOccurrence.event_id == CalendarEvent.id)
            .where(
                CalendarEvent.module_id.in_(ids),
                CalendarEvent.kind != EventKind.TUTORIAL,
                CalendarEvent.cancelled_at.is_(None),
                EventOccurrence.status == OccurrenceStatus.SCHEDULED,
                EventOccurrence.starts_at > now,
                EventOccurrence.starts_at <= until,
            )
        )
    ).all():
        found.append(Upcoming(codes[mid], title, str(kind).replace("_", " "), when))
    found.sort(key=lambda u: (u.due_at, u.module_code, u.title))
    return found


# --------------------------------------------------------------------------- module page


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


async def _timeliness(
    session: AsyncSession, module_id: int, students: set[int], now: datetime
) -> list[Timeliness]:
    """On time / late / missing for every item already due (prompts, peer submissions)."""
    result: list[tuple[datetime, Timeliness]] = []
    prompts = (
        await session.execute(
            select(DiscussionPrompt.id, DiscussionPrompt.title, DiscussionPrompt.closes_at)
            .where(
                DiscussionPrompt.module_id == module_id,
                DiscussionPrompt.status != PromptStatus.CANCELLED,
                DiscussionPrompt.closes_at <= now,
            )
            .order_by(DiscussionPrompt.closes_at)
        )
    ).all()
    if prompts:
        all_late = func.min(case((Contribution.late.is_(True), 1), else_=0)).label("all_late")
        per_person = (
            select(Contribution.prompt_id.label("item"), all_late)
            .where(
                Contribution.prompt_id.in_([p.id for p in prompts]),
                Contribution.person_id.in_(sorted(students)),
            )
            .group_by(Contribution.prompt_id, Contribution.person_id)
            .subquery()
        )
        state = await _late_counts(session, per_person)
        for pid, title, closes in prompts:
            c = state[pid]
            missing = len(students) - c["on_time"] - c["late"]
            result.append(
                (closes, Timeliness(title, "discussion", c["on_time"], c["late"], missing))
            )
    exercises = (
        await session.execute(
            select(PeerExercise.id, PeerExercise.title, PeerExercise.submission_due_at).where(
                PeerExercise.module_id == module_id,
                PeerExercise.status != ExerciseStatus.CANCELLED,
                PeerExercise.submission_due_at <= now,
            )
        )
    ).all()
    if exercises:
        all_late = func.min(case((PeerSubmission.late.is_(True), 1), else_=0)).label("all_late")
        per_person = (
            select(PeerSubmission.exercise_id.label("item"), all_late)
            .where(
                PeerSubmission.exercise_id.in_([e.id for e in exercises]),
                PeerSubmission.person_id.in_(sorted(students)),
            )
            .group_by(PeerSubmission.exercise_id, PeerSubmission.person_id)
            .subquery()
        )
        subs = await _late_counts(session, per_person)
        for eid, title, due in exercises:
            c = subs[eid]
            missing = len(students) - c["on_time"] - c["late"]
            result.append(
                (due, Timeliness(title, "peer submission", c["on_time"], c["late"], missing))
            )
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
    going = _counts(
        (
            await session.execute(
                select(Rsvp.occurrence_id, func.count())
                .where(Rsvp.occurrence_id.in_(ids), Rsvp.response == RsvpResponse.GOING)
                .group_by(Rsvp.occurrence_id)
            )
        ).all()
    )
    came = _counts(
        (
            await session.execute(
                select(Attendance.occurrence_id, func.count())
                .where(Attendance.occurrence_id.in_(ids))
                .group_by(Attendance.occurrence_id)
            )
        ).all()
    )
    both = _counts(
        (
            await session.execute(
                select(Attendance.occurrence_id, func.count())
                .join(
                    Rsvp,
                    (Rsvp.occurrence_id == Attendance.occurrence_id)
                    & (Rsvp.person_id == Attendance.person_id),
                )
                .where(Attendance.occurrence_id.in_(ids), Rsvp.response == RsvpResponse.GOING)
                .group_by(Attendance.occurrence_id)
            )
        ).all()
    )
    return [
        TutorialTurnout(f"{starts:%d %b}", going.get(oid, 0), came.get(oid, 0), both.get(oid, 0))
        for oid, _title, starts in occurrences
    ]


# --------------------------------------------------------------------------- student page


@dataclass(frozen=True)
class Evidence:
    at: datetime
    module_code: str
    kind: str
    detail: str


@dataclass(frozen=True)
class LedgerLine:
    at: datetime
    module_code: str
    source: str
    points: Decimal
    ref: str


@dataclass(frozen=True)
class ExtensionLine:
    item: str
    new_due_at: datetime
    status: str


@dataclass(frozen=True)
class NoticeLine:
    at: datetime
    kind: str
    text: str


@dataclass
class StudentPage:
    person_id: int
    name: str
    student_number: str | None
    modules: list[str]
    timeline: list[Evidence]
    ledger: list[LedgerLine]
    extensions: list[ExtensionLine]
    notices: list[NoticeLine]
    own: bool
    message_module_id: int | None = None


async def student_page(
    session: AsyncSession, viewer: Viewer, person_id: int, now: datetime
) -> StudentPage:
    """A student's evidence, ledger, extensions and notices, limited to modules the viewer may
    see (their own page: all their modules)."""
    own = viewer.person_id == person_id
    if not own and not viewer.is_staff:
        raise PermissionDenied(STUDENT_ONLY_OWN)
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("There is no such student.")
    enrolled = {
        mid: code
        for mid, code in (
            await session.execute(
                select(Module.id, Module.code)
                .join(Enrolment, Enrolment.module_id == Module.id)
                .where(
                    Enrolment.person_id == person_id,
                    Enrolment.role == Role.STUDENT,
                    Module.cohort_id == viewer.cohort_id,
                )
            )
        ).all()
    }
    visible = enrolled if own else {m: c for m, c in enrolled.items() if viewer.may_see_module(m)}
    if not visible:
        if own:
            raise PermissionDenied(STUDENT_ONLY_OWN if not viewer.is_staff else NOT_YOURS)
        raise PermissionDenied(NOT_YOURS)
    ids = list(visible)
    timeline: list[Evidence] = []
    for at, mid, title, words, late in (
        await session.execute(
            select(
                Contribution.created_at,
                DiscussionPrompt.module_id,
                DiscussionPrompt.title,
                Contribution.words,
                Contribution.late,
            )
            .join(DiscussionPrompt, DiscussionPrompt.id == Contribution.prompt_id)
            .where(Contribution.person_id == person_id, DiscussionPrompt.module_id.in_(ids))
        )
    ).all():
        extra = ", late" if late else ""
        timeline.append(Evidence(at, visible[mid], "post", f"{title} ({words} words{extra})"))
    for at, mid, title, late in (
        await session.execute(
            select(
                PeerSubmission.submitted_at,
                PeerExercise.module_id,
                PeerExercise.title,
                PeerSubmission.late,
            )
            .join(PeerExercise, PeerExercise.id == PeerSubmission.exercise_id)
            .where(PeerSubmission.person_id == person_id, PeerExercise.module_id.in_(ids))
        )
    ).all():
        timeline.append(
            Evidence(at, visible[mid], "submission", title + (" (late)" if late else ""))
        )
    for at, mid, title in (
        await session.execute(
            select(PeerReview.submitted_at, PeerExercise.module_id, PeerExercise.title)
            .join(ReviewAssignment, ReviewAssignment.id == PeerReview.assignment_id)
            .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
            .where(ReviewAssignment.reviewer_id == person_id, PeerExercise.module_id.in_(ids))
        )
    ).all():
        timeline.append(Evidence(at, visible[mid], "review", f"reviewed a peer's {title}"))
    for at, mid, title in (
        await session.execute(
            select(Attendance.checked_in_at, CalendarEvent.module_id, CalendarEvent.title)
            .join(EventOccurrence, EventOccurrence.id == Attendance.occurrence_id)
            .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
            .where(Attendance.person_id == person_id, CalendarEvent.module_id.in_(ids))
        )
    ).all():
        timeline.append(Evidence(at, visible[mid], "check-in", title))
    for at, mid, title, response, starts in (
        await session.execute(
            select(
                Rsvp.updated_at,
                CalendarEvent.module_id,
                CalendarEvent.title,
                Rsvp.response,
                EventOccurrence.starts_at,
            )
            .join(EventOccurrence, EventOccurrence.id == Rsvp.occurrence_id)
            .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
            .where(Rsvp.person_id == person_id, CalendarEvent.module_id.in_(ids))
        )
    ).all():
        answer = str(response).replace("_", " ")
        timeline.append(Evidence(at, visible[mid], "RSVP", f"{answer}: {title} {starts:%d %b}"))
    timeline.sort(key=lambda e: e.at, reverse=True)
    ledger = [
        LedgerLine(at, visible[mid], str(source).replace("_", " "), points, ref)
        for at, mid, source, points, ref in (
            await session.execute(
                select(
                    LedgerEntry.occurred_at,
                    LedgerEntry.module_id,
                    LedgerEntry.source,
                    LedgerEntry.points,
                    LedgerEntry.source_ref,
                )
                .where(LedgerEntry.person_id == person_id, LedgerEntry.module_id.in_(ids))
                .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())
            )
        ).all()
    ]
    extensions: list[ExtensionLine] = []
    ext_rows = await session.execute(
        select(Extension, DiscussionPrompt.title, PeerExercise.title, CalendarEvent.title)
        .outerjoin(DiscussionPrompt, DiscussionPrompt.id == Extension.prompt_id)
        .outerjoin(PeerExercise, PeerExercise.id == Extension.exercise_id)
        .outerjoin(CalendarEvent, CalendarEvent.id == Extension.event_id)
        .where(
            Extension.person_id == person_id,
            func.coalesce(
                DiscussionPrompt.module_id, PeerExercise.module_id, CalendarEvent.module_id
            ).in_(ids),
        )
        .order_by(Extension.requested_at.desc())
    )
    for ext, p_title, e_title, c_title in ext_rows.all():
        item = p_title or e_title or c_title or "an item"
        extensions.append(ExtensionLine(item, ext.new_due_at, str(ext.status)))
    notices: list[NoticeLine] = []
    for at, kind, payload in (
        await session.execute(
            select(Notice.sent_at, Notice.kind, Notice.payload).where(
                Notice.person_id == person_id,
                Notice.status == NoticeStatus.SENT,
                Notice.module_id.in_(ids),
            )
        )
    ).all():
        text = str(payload.get("title") or payload.get("text") or "") if payload else ""
        notices.append(NoticeLine(at, kind.replace("_", " "), text))
    for at, text, error in (
        await session.execute(
            select(TutorMessage.created_at, TutorMessage.text, TutorMessage.error).where(
                TutorMessage.recipient_id == person_id, TutorMessage.module_id.in_(ids)
            )
        )
    ).all():
        kind = "message from a tutor" + (" (not delivered)" if error else "")
        notices.append(NoticeLine(at, kind, text))
    notices.sort(key=lambda n: n.at or now, reverse=True)
    staff_module = next((m for m in ids if viewer.may_see_module(m)), None)
    return StudentPage(
        person.id,
        person.display_name,
        person.student_number,
        sorted(visible.values()),
        timeline,
        ledger,
        extensions,
        notices,
        own,
        staff_module if not own else None,
    )


# --------------------------------------------------------------------------- peer exercise


@dataclass(frozen=True)
class AllocationRow:
    author: str
    submitted: str
    reviewers: list[tuple[str, str]]  # (reviewer, status)
    final: Decimal | None
    disagreement: Decimal | None
    flag: str | None


@dataclass(frozen=True)
class ReviewerBias:
    reviewer: str
    reviews: int
    mean_offset: float


@dataclass
class ExercisePage:
    exercise: PeerExercise
    module: Module
    status: str
    progress: dict[str, int]
    rows: list[AllocationRow]
    flagged: int
    bias: list[ReviewerBias]


async def exercise_page(
    session: AsyncSession, viewer: Viewer, exercise_id: int, now: datetime
) -> ExercisePage:
    exercise = await session.get(PeerExercise, exercise_id)
    if exercise is None:
        raise NotFound("There is no such peer exercise.")
    module = await _staff_module(session, viewer, exercise.module_id)
    names = _names(
        (
            await session.execute(
                select(Person.id, Person.display_name)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .where(Enrolment.module_id == module.id)
            )
        ).all()
    )
    submitted = {
        pid: ("late" if late else "on time")
        for pid, late in (
            await session.execute(
                select(PeerSubmission.person_id, PeerSubmission.late).where(
                    PeerSubmission.exercise_id == exercise.id, PeerSubmission.is_current.is_(True)
                )
            )
        ).all()
    }
    assignments = (
        await session.execute(
            select(
                ReviewAssignment.reviewer_id,
                ReviewAssignment.author_id,
                ReviewAssignment.status,
                ReviewAssignment.end_reason,
                ReviewAssignment.due_at,
                PeerReview.total,
            )
            .outerjoin(PeerReview, PeerReview.assignment_id == ReviewAssignment.id)
            .where(ReviewAssignment.exercise_id == exercise.id)
            .order_by(ReviewAssignment.id)
        )
    ).all()
    results = {
        r.person_id: r
        for r in (
            await session.execute(select(PeerResult).where(PeerResult.exercise_id == exercise.id))
        )
        .scalars()
        .all()
    }
    progress: Counter[str] = Counter()
    by_author: dict[int, list[tuple[str, str]]] = defaultdict(list)
    offsets: dict[int, list[float]] = defaultdict(list)
    for reviewer, author, status, end_reason, due, total in assignments:
        due_at = due or exercise.review_due_at
        if status == AssignmentStatus.DONE:
            label = "done"
        elif status == AssignmentStatus.PENDING:
            label = "overdue" if due_at <= now else "pending"
        else:
            label = end_reason or str(status)
        progress[label] += 1
        by_author[author].append((names.get(reviewer, f"#{reviewer}"), label))
        result = results.get(author)
        if total is not None and result is not None and result.median is not None:
            offsets[reviewer].append(float(total - result.median))
    authors = sorted(set(submitted) | set(by_author), key=lambda p: names.get(p, ""))
    rows = [
        AllocationRow(
            names.get(a, f"#{a}"),
            submitted.get(a, "missing"),
            by_author.get(a, []),
            results[a].final if a in results else None,
            results[a].disagreement if a in results else None,
            (results[a].flag_reason or "flagged") if a in results and results[a].flagged else None,
        )
        for a in authors
    ]
    bias = sorted(
        (
            ReviewerBias(names.get(r, f"#{r}"), len(v), sum(v) / len(v))
            for r, v in offsets.items()
            if v
        ),
        key=lambda b: -abs(b.mean_offset),
    )
    return ExercisePage(
        exercise,
        module,
        str(exercise.status),
        {k: progress.get(k, 0) for k in ("done", "pending", "overdue", "missed", "left")},
        rows,
        sum(1 for r in rows if r.flag),
        bias[:20],
    )


# --------------------------------------------------------------------------- downloads


async def module_export(
    session: AsyncSession, viewer: Viewer, module_id: int, fmt: str, now: datetime
) -> ExportFile:
    """The module's gradebook file, as ``/gradebook export`` makes it."""
    module = await _staff_module(session, viewer, module_id)
    return await build_module_export(session, module, check_format(fmt), now)


async def programme_export(
    session: AsyncSession, viewer: Viewer, fmt: str, now: datetime
) -> ExportFile:
    """The whole cohort's gradebook (programme admins only), as ``cohortbot export`` makes it."""
    if not viewer.is_admin:
        raise PermissionDenied("Only programme admins can do that.")
    cohort = await session.get(Cohort, viewer.cohort_id)
    assert cohort is not None
    return await build_programme_export(session, cohort, check_format(fmt), now)

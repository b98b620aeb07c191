"""The overview page: the cohort at a glance for a tutor or programme admin."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dashboard.shared import Upcoming, _count_by, _upcoming
from bot.dashboard.viewer import NOT_YOURS, Viewer
from bot.db.models import (
    Cohort,
    DiscussionPrompt,
    Enrolment,
    EnrolmentStatus,
    ExerciseStatus,
    MarkRelease,
    Module,
    PeerExercise,
    PromptStatus,
    Role,
)
from bot.errors import PermissionDenied


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
    students = await _count_by(
        session,
        Enrolment.module_id,
        Enrolment.module_id.in_(ids),
        Enrolment.role == Role.STUDENT,
        Enrolment.status == EnrolmentStatus.ACTIVE,
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
    open_prompts = await _count_by(
        session,
        DiscussionPrompt.module_id,
        DiscussionPrompt.module_id.in_(ids),
        DiscussionPrompt.status == PromptStatus.OPEN,
    )
    open_exercises = await _count_by(
        session,
        PeerExercise.module_id,
        PeerExercise.module_id.in_(ids),
        PeerExercise.status.in_([ExerciseStatus.OPEN, ExerciseStatus.ALLOCATED]),
    )
    released = await _count_by(session, MarkRelease.module_id, MarkRelease.module_id.in_(ids))
    # Items whose marks could be released: closed prompts, exercises past their reviews.
    closed_items = Counter(
        await _count_by(
            session,
            DiscussionPrompt.module_id,
            DiscussionPrompt.module_id.in_(ids),
            DiscussionPrompt.status == PromptStatus.CLOSED,
        )
    ) + Counter(
        await _count_by(
            session,
            PeerExercise.module_id,
            PeerExercise.module_id.in_(ids),
            PeerExercise.review_due_at <= now,
        )
    )
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

"""Reads the peer steps share (submissions, assignments, roster, groups, names).

One query each, used by commands and scheduled work alike, so both see the same facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AssignmentStatus,
    Enrolment,
    EnrolmentStatus,
    ExerciseStatus,
    GroupMembership,
    Module,
    PeerExercise,
    PeerSubmission,
    Person,
    ReviewAssignment,
    Role,
    StudyGroup,
)
from bot.peer.policy import ACTIVE, GONE
from bot.teams.groups import team_groups, with_teams

# --------------------------------------------------------------------------- reads


async def module_of(session: AsyncSession, exercise: PeerExercise) -> Module:
    module = await session.get(Module, exercise.module_id)
    assert module is not None
    return module


async def current_submissions(session: AsyncSession, exercise_id: int) -> dict[int, PeerSubmission]:
    rows = await session.execute(
        select(PeerSubmission).where(
            PeerSubmission.exercise_id == exercise_id, PeerSubmission.is_current.is_(True)
        )
    )
    return {s.person_id: s for s in rows.scalars()}


async def assignments(
    session: AsyncSession, exercise_id: int, statuses: Sequence[AssignmentStatus] | None = None
) -> list[ReviewAssignment]:
    """Fresh from the database (not the session's cached copies): status is what decides."""
    stmt = select(ReviewAssignment).where(ReviewAssignment.exercise_id == exercise_id)
    if statuses is not None:
        stmt = stmt.where(ReviewAssignment.status.in_(list(statuses)))
    stmt = stmt.order_by(ReviewAssignment.id).execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def module_people(session: AsyncSession, module_id: int, role: Role) -> set[int]:
    rows = await session.execute(
        select(Enrolment.person_id).where(
            Enrolment.module_id == module_id,
            Enrolment.role == role,
            Enrolment.status == EnrolmentStatus.ACTIVE,
        )
    )
    return set(rows.scalars())


async def groups_of(
    session: AsyncSession, cohort_id: int, people: Iterable[int]
) -> dict[int, frozenset[int]]:
    wanted = sorted(set(people))
    if not wanted:
        return {}
    rows = await session.execute(
        select(GroupMembership.person_id, GroupMembership.group_id)
        .join(StudyGroup, StudyGroup.id == GroupMembership.group_id)
        .where(StudyGroup.cohort_id == cohort_id, GroupMembership.person_id.in_(wanted))
    )
    out: dict[int, set[int]] = {}
    for person_id, group_id in rows.all():
        out.setdefault(person_id, set()).add(group_id)
    return {p: frozenset(g) for p, g in out.items()}


async def kin_of(
    session: AsyncSession, module: Module, people: Iterable[int]
) -> dict[int, frozenset[int]]:
    """Who counts as group-mates for "not the same group": study groups and the module's teams
    (``bot.teams``) together. The allocator, the tutor's hand-picked reviewer and the check at
    creation all ask this, so none can let teammates through where another would not."""
    wanted = set(people)
    return with_teams(
        await groups_of(session, module.cohort_id, wanted),
        await team_groups(session, module.id, wanted),
    )


async def history_pairs(session: AsyncSession, exercise: PeerExercise) -> set[tuple[int, int]]:
    """Reviewer -> author pairs of the module's earlier exercises (to avoid repeating them)."""
    rows = await session.execute(
        select(ReviewAssignment.reviewer_id, ReviewAssignment.author_id)
        .join(PeerExercise, PeerExercise.id == ReviewAssignment.exercise_id)
        .where(
            PeerExercise.module_id == exercise.module_id,
            PeerExercise.id < exercise.id,
            PeerExercise.status != ExerciseStatus.CANCELLED,
        )
    )
    return {(r, a) for r, a in rows.all()}


async def gone_reviewers(session: AsyncSession, exercise_id: int) -> set[int]:
    rows = await session.execute(
        select(ReviewAssignment.reviewer_id).where(
            ReviewAssignment.exercise_id == exercise_id, ReviewAssignment.end_reason.in_(GONE)
        )
    )
    return set(rows.scalars())


async def names_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Person.id, Person.display_name).where(Person.id.in_(wanted))
    )
    return {pid: name for pid, name in rows.all()}


@dataclass
class Rules:
    """Everything the pure allocator needs about an exercise, read once."""

    pool: set[int]
    groups: dict[int, frozenset[int]] | None
    history: set[tuple[int, int]]
    #: Pairs of this exercise that ended (moved away, missed, cancelled): never again.
    ended: set[tuple[int, int]]


async def rules_for(
    session: AsyncSession, exercise: PeerExercise, module: Module, submitters: Iterable[int]
) -> Rules:
    """The eligible pool (submitters, or all enrolled students) minus reviewers who are gone."""
    subs = set(submitters)
    if exercise.reviewers_from_submitters_only:
        pool = set(subs)
    else:
        pool = await module_people(session, module.id, Role.STUDENT) | subs
    pool -= await gone_reviewers(session, exercise.id)
    groups = None
    if exercise.avoid_same_group:
        groups = await kin_of(session, module, pool | subs)
    history = await history_pairs(session, exercise) if exercise.avoid_repeat_pairs else set()
    return Rules(
        pool=pool, groups=groups, history=history, ended=await ended_pairs(session, exercise.id)
    )


async def ended_pairs(session: AsyncSession, exercise_id: int) -> set[tuple[int, int]]:
    """Reviewer -> author pairs of this exercise that are no longer active."""
    rows = await session.execute(
        select(ReviewAssignment.reviewer_id, ReviewAssignment.author_id).where(
            ReviewAssignment.exercise_id == exercise_id,
            ReviewAssignment.status.not_in(list(ACTIVE)),
        )
    )
    return {(r, a) for r, a in rows.all()}


async def tutors_to_tell(session: AsyncSession, exercise: PeerExercise) -> list[int]:
    """The exercise's author, else the module's tutors: who hears what is still missing."""
    if exercise.created_by_id is not None:
        return [exercise.created_by_id]
    return sorted(await module_people(session, exercise.module_id, Role.TUTOR))

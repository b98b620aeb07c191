"""Reads the team steps share: a module's students as the solver sees them, sets, names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import roster_people
from bot.db.models import (
    Cohort,
    Module,
    PairRule,
    Person,
    Role,
    Team,
    TeamAvailability,
    TeamMember,
    TeamPair,
    TeamSet,
    TeamSetStatus,
    TeamSurveyAnswer,
    TeamSurveyQuestion,
)
from bot.errors import NotFound
from bot.teams import availability as av
from bot.teams.formation import Student
from bot.timeparse import get_zone, user_input

#: How far ahead shared hours must hold: a term of twelve weeks from the week teams are formed.
TERM_WEEKS = 12


def checked_zone(name: str) -> str:
    """An IANA zone name, or a one-sentence refusal suggesting real ones."""
    with user_input():
        return get_zone(name).key


def weeks_from(now: datetime, count: int = TERM_WEEKS) -> tuple[date, ...]:
    """The Mondays of the ``count`` weeks starting with ``now``'s."""
    first = av.week_start(now.astimezone(UTC).date())
    return tuple(first + timedelta(days=7 * i) for i in range(count))


def monday_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Free:
    """A person's availability as they gave it (or the default), in their zone."""

    zone: str
    intervals: tuple[av.Interval, ...]
    given: bool


async def free_time(session: AsyncSession, person: Person, cohort: Cohort) -> Free:
    row = await session.get(TeamAvailability, person.id)
    if row is not None:
        return Free(row.zone, av.decode(row.intervals), True)
    zone = person.timezone or cohort.timezone
    return Free(checked_zone(zone), av.DEFAULT_INTERVALS, False)


async def free_times(
    session: AsyncSession, people: Sequence[Person], cohort: Cohort
) -> dict[int, Free]:
    """``free_time`` for many people in one query (a cohort of hundreds forms in one read)."""
    wanted = sorted({p.id for p in people})
    rows = (
        await session.execute(
            select(TeamAvailability).where(TeamAvailability.person_id.in_(wanted))
        )
        if wanted
        else None
    )
    given = {r.person_id: r for r in rows.scalars()} if rows is not None else {}
    out: dict[int, Free] = {}
    for p in people:
        row = given.get(p.id)
        if row is not None:
            out[p.id] = Free(row.zone, av.decode(row.intervals), True)
        else:
            out[p.id] = Free(
                checked_zone(p.timezone or cohort.timezone), av.DEFAULT_INTERVALS, False
            )
    return out


async def module_students(session: AsyncSession, module: Module) -> list[Person]:
    students = roster_people(module.id, Role.STUDENT).order_by(Person.id)
    return list((await session.scalars(students)).all())


async def questions(session: AsyncSession, module: Module) -> list[TeamSurveyQuestion]:
    rows = await session.execute(
        select(TeamSurveyQuestion)
        .where(TeamSurveyQuestion.module_id == module.id)
        .order_by(TeamSurveyQuestion.position)
    )
    return list(rows.scalars())


async def answers_of(
    session: AsyncSession, module: Module, people: Iterable[int]
) -> dict[int, dict[str, str]]:
    """person -> {question id (as text) -> choice} for the module's survey."""
    wanted = sorted(set(people))
    if not wanted:
        return {}
    rows = await session.execute(
        select(TeamSurveyAnswer.person_id, TeamSurveyAnswer.question_id, TeamSurveyAnswer.choice)
        .join(TeamSurveyQuestion, TeamSurveyQuestion.id == TeamSurveyAnswer.question_id)
        .where(TeamSurveyQuestion.module_id == module.id, TeamSurveyAnswer.person_id.in_(wanted))
    )
    out: dict[int, dict[str, str]] = {}
    for person_id, question_id, choice in rows.all():
        out.setdefault(person_id, {})[str(question_id)] = choice
    return out


async def solver_students(
    session: AsyncSession,
    cohort: Cohort,
    module: Module,
    people: Sequence[Person],
    weeks: Sequence[date],
) -> list[Student]:
    """Each person's free slots over ``weeks`` (their zone, DST-safe) and survey answers."""
    answers = await answers_of(session, module, [p.id for p in people])
    frees = await free_times(session, people, cohort)
    out = []
    for p in people:
        free = frees[p.id]
        out.append(
            Student(p.id, av.utc_slots(free.intervals, free.zone, weeks), answers.get(p.id, {}))
        )
    return out


async def pair_rules(session: AsyncSession, module: Module) -> dict[PairRule, set[tuple[int, int]]]:
    rows = await session.execute(select(TeamPair).where(TeamPair.module_id == module.id))
    out: dict[PairRule, set[tuple[int, int]]] = {PairRule.APART: set(), PairRule.TOGETHER: set()}
    for pair in rows.scalars():
        out[pair.rule].add((pair.first_id, pair.second_id))
    return out


async def previous_teammates(
    session: AsyncSession, cohort: Cohort, *, except_set: int | None = None
) -> set[tuple[int, int]]:
    """Pairs who were in a confirmed team together anywhere in the cohort."""
    rows = await session.execute(
        select(TeamMember.team_id, TeamMember.person_id)
        .join(TeamSet, TeamSet.id == TeamMember.set_id)
        .join(Module, Module.id == TeamSet.module_id)
        .where(
            Module.cohort_id == cohort.id,
            TeamSet.status.in_([TeamSetStatus.ACTIVE, TeamSetStatus.SUPERSEDED]),
            TeamSet.id != (except_set or 0),
        )
    )
    by_team: dict[int, list[int]] = {}
    for team_id, person_id in rows.all():
        by_team.setdefault(team_id, []).append(person_id)
    pairs: set[tuple[int, int]] = set()
    for members in by_team.values():
        ms = sorted(members)
        pairs.update((a, b) for i, a in enumerate(ms) for b in ms[i + 1 :])
    return pairs


async def current_set(
    session: AsyncSession, module: Module, status: TeamSetStatus = TeamSetStatus.ACTIVE
) -> TeamSet | None:
    return (
        await session.execute(
            select(TeamSet)
            .where(TeamSet.module_id == module.id, TeamSet.status == status)
            .order_by(TeamSet.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def require_active(session: AsyncSession, module: Module) -> TeamSet:
    found = await current_set(session, module)
    if found is None:
        raise NotFound(f"{module.code} has no teams yet; a tutor forms them with /teams form.")
    return found


async def teams_of(session: AsyncSession, team_set: TeamSet) -> list[tuple[Team, list[Person]]]:
    """The set's teams in number order, each with its members by name."""
    teams = list(
        (
            await session.execute(
                select(Team).where(Team.set_id == team_set.id).order_by(Team.number)
            )
        ).scalars()
    )
    rows = await session.execute(
        select(TeamMember.team_id, Person)
        .join(Person, Person.id == TeamMember.person_id)
        .where(TeamMember.set_id == team_set.id)
        .order_by(Person.display_name, Person.id)
    )
    members: dict[int, list[Person]] = {}
    for team_id, person in rows.all():
        members.setdefault(team_id, []).append(person)
    return [(t, members.get(t.id, [])) for t in teams]


def mask_of(team: Team) -> int:
    return int(team.shared, 16) if team.shared else 0


def hex_mask(mask: int) -> str:
    return format(mask, "x")


def named(people: Iterable[Person]) -> str:
    return ", ".join(p.display_name for p in people)

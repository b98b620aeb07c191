"""What the teams feature holds about a person, for the personal-data export and erasure
(``bot.gradebook.privacy`` asks; published in ``PUBLIC_MODULES``).

The export names no other person (teams by number, pair rules without the other student);
erasure deletes availability, survey answers and pair rules, and keeps team memberships (now
of the pseudonymised person) so past teams and the peer rules stay consistent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Module,
    Team,
    TeamAvailability,
    TeamMember,
    TeamPair,
    TeamSet,
    TeamSurveyAnswer,
    TeamSurveyQuestion,
)
from bot.personal_data import rows
from bot.teams import availability as av

#: How the personal-data export treats each teams table that refers to a person.
COVERAGE: dict[str, str] = {
    "team_availability": "exported (zone and weekly free times); deleted on erasure",
    "team_survey_answers": "exported; deleted on erasure",
    "team_pairs": "exported without the other student; deleted on erasure",
    "team_sets": "exported: team sets the person formed (staff)",
    "team_members": "exported: module, set and team number, no teammates",
}


async def personal_data(session: AsyncSession, pid: int) -> dict[str, Any]:
    free = await session.get(TeamAvailability, pid)
    answers = await rows(
        session,
        select(Module.code, TeamSurveyQuestion.text, TeamSurveyAnswer.choice)
        .select_from(TeamSurveyAnswer)
        .join(TeamSurveyQuestion, TeamSurveyQuestion.id == TeamSurveyAnswer.question_id)
        .join(Module, Module.id == TeamSurveyQuestion.module_id)
        .where(TeamSurveyAnswer.person_id == pid)
        .order_by(Module.code, TeamSurveyQuestion.position),
    )
    teams = await rows(
        session,
        select(Module.code, TeamSet.id, TeamSet.status, Team.number)
        .select_from(TeamMember)
        .join(Team, Team.id == TeamMember.team_id)
        .join(TeamSet, TeamSet.id == TeamMember.set_id)
        .join(Module, Module.id == TeamSet.module_id)
        .where(TeamMember.person_id == pid)
        .order_by(TeamSet.id),
    )
    pairs = await rows(
        session,
        select(Module.code, TeamPair.rule)
        .select_from(TeamPair)
        .join(Module, Module.id == TeamPair.module_id)
        .where(or_(TeamPair.first_id == pid, TeamPair.second_id == pid))
        .order_by(TeamPair.id),
    )
    formed = await rows(
        session,
        select(Module.code, TeamSet.id)
        .select_from(TeamSet)
        .join(Module, Module.id == TeamSet.module_id)
        .where(TeamSet.created_by_id == pid)
        .order_by(TeamSet.id),
    )
    return {
        "availability": (
            {"zone": free.zone, "weekly": av.describe(av.decode(free.intervals))}
            if free is not None
            else None
        ),
        "survey_answers": [{"module": m, "question": q, "answer": c} for m, q, c in answers],
        "teams": [{"module": m, "set": s, "status": str(st), "team": n} for m, s, st, n in teams],
        "pair_rules": [{"module": m, "keep": str(r)} for m, r in pairs],
        "team_sets_formed": [{"module": m, "set": s} for m, s in formed],
    }


async def erase(session: AsyncSession, pid: int) -> None:
    """Delete what only described the person's preferences (availability, answers, pairs)."""
    await session.execute(delete(TeamAvailability).where(TeamAvailability.person_id == pid))
    await session.execute(delete(TeamSurveyAnswer).where(TeamSurveyAnswer.person_id == pid))
    await session.execute(
        delete(TeamPair).where(or_(TeamPair.first_id == pid, TeamPair.second_id == pid))
    )

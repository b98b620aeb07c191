"""Who is in the same team, for the peer exercises' "not the same group" rule.

Published to other features (``PUBLIC_MODULES``): a module's active teams read as groups. Team
group ids are negative (minus the team's id) so they never collide with study-group ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import TeamMember, TeamSet, TeamSetStatus


async def team_groups(
    session: AsyncSession, module_id: int, people: Iterable[int]
) -> dict[int, frozenset[int]]:
    """person -> {-team id} for the module's active teams."""
    wanted = sorted(set(people))
    if not wanted:
        return {}
    rows = await session.execute(
        select(TeamMember.person_id, TeamMember.team_id)
        .join(TeamSet, TeamSet.id == TeamMember.set_id)
        .where(
            TeamSet.module_id == module_id,
            TeamSet.status == TeamSetStatus.ACTIVE,
            TeamMember.person_id.in_(wanted),
        )
    )
    return {person: frozenset({-team}) for person, team in rows.all()}


def with_teams(
    groups: Mapping[int, frozenset[int]], teams: Mapping[int, frozenset[int]]
) -> dict[int, frozenset[int]]:
    """Study groups and teams together: either one makes two people group-mates."""
    merged = dict(groups)
    for person, team in teams.items():
        merged[person] = merged.get(person, frozenset()) | team
    return merged


def shared(first: frozenset[int], second: frozenset[int]) -> str | None:
    """What two people's merged groups (``with_teams``) have in common, in words: "study
    group", "team", "study group and team", or None (a refusal names which rule applies)."""
    common = first & second
    kinds = [
        kind
        for kind, found in (
            ("study group", any(g > 0 for g in common)),
            ("team", any(g < 0 for g in common)),
        )
        if found
    ]
    return " and ".join(kinds) or None

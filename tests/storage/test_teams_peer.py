"""Teams feed the peer exercises' "not the same group" rule: with ``avoid_same_group`` no one
reviews a teammate (nor a study-group mate), and the reviewer count is checked against it."""

from __future__ import annotations

from typing import Any

from bot.access.permissions import Caller
from bot.db.models import Cohort
from bot.teams import service as teams
from tests.storage.test_peer_service import MODULE, T0, Course, allocated, course

__all__ = ["course"]  # the peer tests' fixture: the example cohort with a recording chat


async def test_nobody_reviews_a_teammate(course: Course) -> None:
    async def form(s: Any, caller: Caller, cohort: Cohort) -> teams.Proposal:
        proposal = await teams.form(
            s,
            caller,
            cohort,
            module_code=MODULE,
            size_min=3,
            size_max=4,
            min_hours=2,
            now=T0,
            time_limit=5.0,
        )
        await teams.confirm(s, caller, cohort, set_id=proposal.set_id, now=T0)
        return proposal

    proposal: teams.Proposal = await course.act(course.tutor, form)
    team_of = {
        course.people[u].id: t.number
        for t in proposal.teams
        for u in course.students()
        if course.people[u].display_name in t.members
    }
    assert len(team_of) == len(course.students())
    ex = await allocated(course, avoid_same_group=True, k=2)
    pairs = {(a.reviewer_id, a.author_id) for a in await course.assignments(ex)}
    assert len(pairs) == 2 * len(course.students())
    assert all(team_of[r] != team_of[a] for r, a in pairs)

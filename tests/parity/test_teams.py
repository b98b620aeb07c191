"""Teams, the same body on Discord and on Slack (and on every database backend): a tutor's
dry run proposes teams and creates nothing, "Create these teams" creates them once, and
/teams show lists them; a student may not form teams."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Team
from cohortlab.drive import Cohort, Person, Post

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
CONFIRM = "cb:teams:confirm:"


async def teams(cohort: Cohort) -> list[Team]:
    async with cohort.db.session() as s:
        return list((await s.execute(select(Team))).scalars())


async def offer(cohort: Cohort, tutor: Person) -> Post:
    """The "Create these teams" button the dry run left the tutor (a DM or a private answer)."""

    def found() -> Post | None:
        return next(
            (
                p
                for p in [*tutor.dms(), *tutor.answers()]
                if any(b.startswith(CONFIRM) for b in p.buttons)
            ),
            None,
        )

    return await cohort.wait_for(found, what=f"a Create these teams button for {tutor.name}")


async def test_a_dry_run_proposes_and_create_these_teams_creates_them(cohort: Cohort) -> None:
    tutor = cohort.tutor(MODULE)
    student = cohort.students(MODULE)[0]
    options = {"module": MODULE, "size_min": 2, "size_max": 4, "min_hours": 1}

    refused = await student.command("teams form", where=MODULE, **options)
    assert "Only tutors" in refused.text, refused.text
    assert await teams(cohort) == []

    proposed = await tutor.command("teams form", where=MODULE, **options)
    assert "Proposed teams for MATH70097" in proposed.text, proposed.text
    assert all(t.thread_id is None for t in await teams(cohort))  # a dry run opens no space

    created = await tutor.click(await offer(cohort, tutor), CONFIRM)
    assert "Created" in created.text, created.text
    formed = await teams(cohort)
    assert formed and all(t.thread_id for t in formed)

    shown = await tutor.command("teams show", where=MODULE, module=MODULE)
    assert student.display_name in shown.text, shown.text

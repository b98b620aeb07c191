"""Teams, the same body on Discord and on Slack (and on every database backend): the tutor
sets the survey in a form and a student answers it; a tutor's dry run proposes teams and
creates nothing, "Create these teams" creates them, and /teams show lists them; a student may
not form teams."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Team, TeamSurveyAnswer
from cohortlab.drive import Cohort, Person, Post

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
CONFIRM = "cb:teams:confirm:"
ANSWER = "cb:teams:answer:"


async def teams(cohort: Cohort) -> list[Team]:
    async with cohort.db.session() as s:
        return list((await s.execute(select(Team))).scalars())


async def with_button(cohort: Cohort, person: Person, control: str) -> Post:
    """The bot's post to ``person`` (a DM or a private answer) with a control whose id starts
    with ``control``."""

    def found() -> Post | None:
        return next(
            (
                p
                for p in [*person.dms(), *person.answers()]
                if any(b.startswith(control) for b in p.buttons)
            ),
            None,
        )

    return await cohort.wait_for(found, what=f"a {control} control for {person.name}")


async def test_the_survey_is_set_in_a_form_and_answered_once(cohort: Cohort) -> None:
    tutor = cohort.tutor(MODULE)
    student = cohort.students(MODULE)[0]
    opened = await tutor.command("teams survey-set", where=MODULE, module=MODULE)
    assert opened.form, opened.text
    saved = await tutor.fill_form(questions="Strongest skill: programming, statistics, writing")
    assert "Strongest skill" in saved.text, saved.text

    await student.command("teams survey", where=MODULE, module=MODULE)
    survey = await with_button(cohort, student, ANSWER)
    assert "Strongest skill" in survey.text, survey.text
    answered = await student.choose(survey, ANSWER, "statistics")
    assert answered.text
    async with cohort.db.session() as s:
        answers = list((await s.execute(select(TeamSurveyAnswer))).scalars())
    assert [a.choice for a in answers] == ["statistics"]


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

    created = await tutor.click(await with_button(cohort, tutor, CONFIRM), CONFIRM)
    assert "Created" in created.text, created.text
    formed = await teams(cohort)
    assert formed and all(t.thread_id for t in formed)

    shown = await tutor.command("teams show", where=MODULE, module=MODULE)
    assert student.display_name in shown.text, shown.text

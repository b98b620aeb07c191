"""``/teams`` on Slack: a tutor sets the survey in a modal, a student answers it with the
buttons in their DM, the tutor exports the teams as a file in the DM; refusals change nothing.
Forming teams (a dry run, then "Create these teams") and /teams show, the same on both
platforms, are in tests/parity/test_teams.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Team, TeamPair, TeamSurveyAnswer
from cohortlab.localslack import Message
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


def _button(message: Message, label: str) -> str:
    return next(
        str(e["action_id"])
        for b in message.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == label
    )


async def test_survey_set_in_a_modal_answered_by_buttons_in_a_dm(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    student = slack.world.students_of(MODULE)[0]
    await tutor.slash("/teams", f"survey-set module:{MODULE}")
    views = await slack.server.script.wait_for(lambda: tutor.open_views, what="the modal")
    assert [b["block_id"] for b in views[-1].blocks] == ["questions"]
    await tutor.submit(
        values={"questions": {"value": "Strongest skill: programming, statistics, writing"}}
    )
    await eventually(
        lambda: _true(any("Strongest skill" in e.text for e in tutor.ephemerals)),
        "the tutor's confirmation",
    )

    asked = await student.slash("/teams", f"survey module:{MODULE}")
    await asked.wait_ephemeral(contains="in your direct messages")
    question = await student.wait_dm(contains="Strongest skill")
    clicked = await student.click(question, _button(question, "statistics"))
    await eventually(lambda: _true(bool(clicked.responses)), "the answer's confirmation")
    async with slack.db.session() as s:
        answers = list((await s.execute(select(TeamSurveyAnswer))).scalars())
    assert [a.choice for a in answers] == ["statistics"]


async def test_teams_export_arrives_as_a_file_in_the_dm(slack: SlackBox) -> None:
    # Forming, "Create these teams" and /teams show: tests/parity/test_teams.py.
    tutor = slack.world.tutor_of(MODULE)
    formed = await tutor.slash(
        "/teams", f"form module:{MODULE} size_min:2 size_max:4 min_hours:1 dry_run:false"
    )
    await formed.wait_ephemeral(contains="Created", timeout=30)
    exported = await tutor.slash("/teams", f"export module:{MODULE}")
    await exported.wait_ephemeral(contains="in your direct messages")
    (csv,) = [f for m in tutor.dms() for f in m.files]
    assert csv.name.endswith(".csv")


async def test_students_cannot_form_teams_and_bad_rules_are_refused(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    first, second = slack.world.students_of(MODULE)[:2]
    # A student's /teams form: tests/parity/test_teams.py.
    no_form = await first.slash("/teams", f"survey-set module:{MODULE}")
    await no_form.wait_ephemeral(contains="Only tutors")
    assert first.open_views == []
    maybe = await tutor.slash(
        "/teams", f"pair module:{MODULE} student:@{first.name} other:@{second.name} keep:maybe"
    )
    await maybe.wait_ephemeral(contains="`keep` must be apart, together or either, not `maybe`.")
    too_big = await tutor.slash(
        "/teams", f"form module:{MODULE} size_min:2 size_max:40 min_hours:1"
    )
    await too_big.wait_ephemeral(contains="`size_max` must be between 1 and 12, not 40.")
    async with slack.db.session() as s:
        assert list((await s.execute(select(TeamPair))).scalars()) == []
        assert list((await s.execute(select(Team))).scalars()) == []
    apart = await tutor.slash(
        "/teams", f"pair module:{MODULE} student:@{first.name} other:@{second.name} keep:apart"
    )
    assert (await apart.wait_ephemeral()).text
    async with slack.db.session() as s:
        assert len(list((await s.execute(select(TeamPair))).scalars())) == 1


async def _true(value: bool) -> bool:
    return value

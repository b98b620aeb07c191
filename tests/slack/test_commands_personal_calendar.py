"""``/calendar availability`` and ``/calendar ics`` on Slack: a student reads and sets their
weekly hours (bad text refused in one sentence, nothing changed) and gets their calendar file
in their DM."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import TeamAvailability
from tests.slack.conftest import SlackBox

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def test_availability_is_shown_set_and_refused_in_one_sentence(slack: SlackBox) -> None:
    student = slack.world.students_of(MODULE)[0]
    shown = await student.slash("/calendar", "availability")
    await shown.wait_ephemeral(contains="Change them with /calendar availability")
    bad = await student.slash("/calendar", 'availability times:"whenever"')
    reply = await bad.wait_ephemeral()
    assert "whenever" in reply.text and "\n" not in reply.text
    async with slack.db.session() as s:
        assert list((await s.execute(select(TeamAvailability))).scalars()) == []
    saved = await student.slash(
        "/calendar", 'availability times:"Mon-Fri 18:00-22:00" zone:Europe/Berlin'
    )
    await saved.wait_ephemeral(contains="Europe/Berlin")
    async with slack.db.session() as s:
        assert len(list((await s.execute(select(TeamAvailability))).scalars())) == 1


async def test_the_calendar_file_arrives_in_the_dm(slack: SlackBox) -> None:
    student = slack.world.students_of(MODULE)[0]
    asked = await student.slash("/calendar", "ics")
    said = await asked.wait_ephemeral(contains="in your direct messages")
    (ics,) = [f for m in student.dms() for f in m.files]
    assert ics.name.endswith(".ics") and ics.name in said.text
    assert ics.content.startswith(b"BEGIN:VCALENDAR")

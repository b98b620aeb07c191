"""Commands that answer with a file: Slack's private answers cannot carry one, so the file
comes to the caller's direct messages (external upload flow) and the answer says so."""

from __future__ import annotations

import pytest

from cohortlab.localslack import SlackActor
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def _file_in_dms(box: SlackBox, person: SlackActor, name: str) -> bool | None:
    for message in person.dms():
        if any(f.name == name for f in message.files):
            return True
    return None


async def test_a_tutor_gets_the_module_gradebook_and_a_bad_format_is_named(
    slack: SlackBox,
) -> None:
    tutor = slack.world.tutor_of(MODULE)
    chan = slack.world.channels[MODULE]
    wrong = await tutor.slash("/gradebook", f"export module:{MODULE} format:pdf", channel=chan)
    await wrong.wait_ephemeral(contains="`format` must be one of csv, xlsx, not `pdf`.")
    export = await tutor.slash("/gradebook", f"export module:{MODULE}", channel=chan)
    reply = await export.wait_ephemeral(contains="is in your direct messages", timeout=15)
    name = f"gradebook-{MODULE}.csv"
    assert name in reply.text
    await eventually(lambda: _file_in_dms(slack, tutor, name), "the export in the tutor's DMs")


async def test_a_student_gets_their_data_and_calendar_and_no_gradebook(slack: SlackBox) -> None:
    student = slack.world.students_of(MODULE)[0]
    chan = slack.world.channels[MODULE]
    mine = await student.slash("/privacy", "export", channel=chan)
    reply = await mine.wait_ephemeral(contains="is in your direct messages", timeout=15)
    name = reply.text.split("The file `", 1)[1].split("`", 1)[0]
    assert name.endswith(".json")
    await eventually(lambda: _file_in_dms(slack, student, name), "the data in the student's DMs")
    ics = await student.slash("/calendar", "ics", channel=chan)
    await ics.wait_ephemeral(contains=".ics` is in your direct messages")
    refused = await student.slash("/gradebook", f"export module:{MODULE}", channel=chan)
    reply = await refused.wait_ephemeral(timeout=15)
    assert "direct messages" not in reply.text

"""``/deadline`` and ``/tutorial`` on Slack: a tutor adds an item, a student asks for an
extension, the tutor sees it pending and approves it (the student is told by DM); tutorials
are scheduled, moved, cancelled and their attendance read; refusals change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import CalendarEvent, Extension
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def _events(box: SlackBox) -> list[CalendarEvent]:
    async with box.db.session() as s:
        return list((await s.execute(select(CalendarEvent))).scalars())


async def test_a_deadline_an_extension_request_and_its_approval(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    student = slack.world.students_of(MODULE)[0]
    added = await tutor.slash(
        "/deadline",
        f'add module:{MODULE} kind:submission_deadline title:"Coursework 1" due:"2030-03-01 AoE"',
    )
    reply = await added.wait_ephemeral(contains="Coursework 1")
    assert "<!date^" in reply.text
    (item,) = await _events(slack)

    asked = await student.slash(
        "/deadline", f'request item:{item.id} due:"2030-03-08 AoE" reason:MC-2'
    )
    await asked.wait_ephemeral(contains="is with the module's tutors")
    pending = await tutor.slash("/deadline", f"requests module:{MODULE}")
    listed = await pending.wait_ephemeral(contains="Pending extension requests")
    assert "MC-2" in listed.text
    async with slack.db.session() as s:
        request = (await s.execute(select(Extension))).scalar_one()

    typo = await tutor.slash("/deadline", f"decide request:{request.id} decision:aprove")
    await typo.wait_ephemeral(contains="`decision` must be approve or deny, not `aprove`.")
    decided = await tutor.slash("/deadline", f"decide request:{request.id} decision:approve")
    await decided.wait_ephemeral(contains="They were told privately.")
    await student.wait_dm(contains="Coursework 1")


async def test_students_cannot_add_deadlines_or_grant_extensions(slack: SlackBox) -> None:
    student, other = slack.world.students_of(MODULE)[:2]
    refused = await student.slash(
        "/deadline",
        f'add module:{MODULE} kind:submission_deadline title:"Mine" due:"2030-03-01 AoE"',
    )
    await refused.wait_ephemeral(contains="Only tutors")
    bad_kind = await slack.world.tutor_of(MODULE).slash(
        "/deadline", f'add module:{MODULE} kind:exam title:"X" due:"2030-03-01 AoE"'
    )
    await bad_kind.wait_ephemeral(contains="`kind` must be one of submission_deadline")
    assert await _events(slack) == []
    granted = await student.slash(
        "/deadline", f'extend item:1 student:@{other.name} due:"2030-03-08 AoE" reason:x'
    )
    assert "told privately" not in (await granted.wait_ephemeral()).text


async def test_a_tutorial_is_scheduled_moved_cancelled_and_its_attendance_read(
    slack: SlackBox,
) -> None:
    tutor = slack.world.tutor_of(MODULE)
    added = await tutor.slash(
        "/tutorial",
        f'add module:{MODULE} title:"Problem class" start:"2030-01-14 10:00" duration:1h '
        'repeat:weekly until:2030-01-28 join_link:"https://meet.example.org/pc"',
    )
    await added.wait_ephemeral(contains="3 sessions")
    (tutorial,) = await _events(slack)
    moved = await tutor.slash(
        "/tutorial", f'move tutorial:{tutorial.id} session:2 start:"2030-01-22 11:00"'
    )
    await moved.wait_ephemeral(contains="session 2")
    cancelled = await tutor.slash("/tutorial", f"cancel tutorial:{tutorial.id} session:3")
    await cancelled.wait_ephemeral(contains="cancelled")
    seen = await tutor.slash("/tutorial", f"attendance tutorial:{tutorial.id} session:1")
    read = await seen.wait_ephemeral(contains="Checked in (0)")
    assert "Problem class" in read.text

    student = slack.world.students_of(MODULE)[0]
    refused = await student.slash("/tutorial", f"cancel tutorial:{tutorial.id}")
    await refused.wait_ephemeral(contains="Only tutors")
    bad = await tutor.slash("/tutorial", f"move tutorial:{tutorial.id} start:tomorrowish")
    assert "tomorrowish" in (await bad.wait_ephemeral()).text


async def test_feedback_released_is_announced_to_the_students(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    added = await tutor.slash(
        "/deadline",
        f'add module:{MODULE} kind:feedback_return title:"CW1 feedback" due:"2030-03-20 17:00"',
    )
    await added.wait_ephemeral(contains="CW1 feedback")
    (item,) = await _events(slack)
    student = slack.world.students_of(MODULE)[0]
    refused = await student.slash("/deadline", f"feedback-released item:{item.id}")
    await refused.wait_ephemeral(contains="Only tutors")
    released = await tutor.slash("/deadline", f"feedback-released item:{item.id}")
    await released.wait_ephemeral(contains="will be told that feedback on *CW1 feedback*")
    chan = slack.world.channels[MODULE]

    async def announced() -> bool:
        await slack.app.work.run_calendar()
        await slack.app.work.send_owed()
        return any("CW1 feedback" in m.text for m in slack.server.script.messages(chan))

    await eventually(announced, "the announcement in the module's channel")

"""Buttons on Slack: a tutorial's card is posted with its RSVP buttons, and a student's double
click does one thing (one RSVP), each click answered privately as on Discord."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.calendar import service as calendar
from bot.db.models import Rsvp
from cohortlab.localslack import Message
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def test_a_double_click_on_going_is_answered_twice_and_records_one_answer(
    slack: SlackBox,
) -> None:
    tutor = slack.world.tutor_of(MODULE)
    chan = slack.world.channels[MODULE]
    added = await tutor.slash(
        "/tutorial",
        f'add module:{MODULE} title:"Problem class 1" start:"2030-01-14 10:00" duration:60m',
        channel=chan,
    )
    await added.wait_ephemeral(contains="Problem class 1")

    async def card() -> Message | None:
        await slack.app.work.run_calendar()
        await slack.app.work.send_owed()
        return next(
            (m for m in slack.server.script.messages(chan) if "Problem class 1" in m.text), None
        )

    posted = await eventually(card, "the tutorial's card in the module channel")
    going = next(
        e["action_id"]
        for b in posted.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("cb:calendar:going:")
    )
    student = slack.world.students_of(MODULE)[0]
    first = await student.click(posted, going)
    second = await student.click(posted, going)
    assert first.acked and second.acked
    await slack.server.script.wait_acked()
    answer = await eventually(lambda: _first(first.responses), "the private answer to the click")
    assert answer.get("response_type") == "ephemeral"
    # The second click is answered too (as on Discord), and still one answer is recorded.
    again = await eventually(lambda: _first(second.responses), "the answer to the second click")
    assert again.get("response_type") == "ephemeral"
    async with slack.db.session() as s:
        rows = list((await s.execute(select(Rsvp))).scalars())
    assert [r.response.value for r in rows] == ["going"]


async def _first(items: list[dict[str, object]]) -> dict[str, object] | None:
    return items[0] if items else None


async def test_tutors_read_attendance_requests_and_teams_students_are_refused(
    slack: SlackBox,
) -> None:
    tutor = slack.world.tutor_of(MODULE)
    student = slack.world.students_of(MODULE)[0]
    chan = slack.world.channels[MODULE]
    call = await slack.app._call_of(slack.server.team_id, tutor.id)
    added = await call.in_context(
        calendar.add_tutorial,
        module_code=MODULE,
        title="Problem class 1",
        start="2030-01-14 10:00",
        duration="60m",
        now=call.now,
    )
    attendance = await tutor.slash(
        "/tutorial", f"attendance tutorial:{added.event_id}", channel=chan
    )
    assert "Problem class 1" in (await attendance.wait_ephemeral()).text
    moved = await tutor.slash(
        "/tutorial", f'move tutorial:{added.event_id} start:"2030-01-15 10:00"', channel=chan
    )
    await moved.wait_ephemeral(contains=f"Moved 1 session(s) of #{added.event_id}")
    cancelled = await tutor.slash("/tutorial", f"cancel tutorial:{added.event_id}", channel=chan)
    await cancelled.wait_ephemeral(contains=f"Cancelled 1 session(s) of #{added.event_id}")
    monthly = await tutor.slash(
        "/tutorial",
        f'add module:{MODULE} title:T start:"2030-01-14 10:00" duration:1h repeat:monthly',
        channel=chan,
    )
    await monthly.wait_ephemeral(contains="Repeat must be none, weekly or fortnightly.")
    requests = await tutor.slash("/deadline", f"requests module:{MODULE}", channel=chan)
    assert (await requests.wait_ephemeral()).text
    teams = await tutor.slash("/teams", f"show module:{MODULE}", channel=chan)
    assert (await teams.wait_ephemeral()).text
    refused = await student.slash("/deadline", f"requests module:{MODULE}", channel=chan)
    await refused.wait_ephemeral(contains="Only tutors of MATH70097")

"""The first Slack commands end to end: Socket Mode, the shared parser, modals, roster checks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import DiscussionPrompt, Person
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"
CREATE = (
    f'create module:{MODULE} title:"Week 1: bias and variance" '
    'opens:"2030-01-19 09:00" closes:"2030-01-23 17:00"'
)


async def test_about_is_answered_privately_by_anyone_on_the_roster(slack: SlackBox) -> None:
    student = slack.world.students_of(MODULE)[0]
    result = await student.slash("/about", channel=slack.world.channels[MODULE])
    assert result.acked
    reply = await result.wait_ephemeral(contains="cohortbot")
    assert "provisional until released" in reply.text


async def test_a_tutor_creates_a_prompt_in_one_line_and_lists_it(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    chan = slack.world.channels[MODULE]
    result = await tutor.slash("/prompt", f'{CREATE} text:"Where have you met it?"', channel=chan)
    reply = await result.wait_ephemeral(contains="Scheduled prompt #1")
    # Times as Slack dates: every reader sees their own zone.
    assert "<!date^" in reply.text and "{date_long_pretty}" in reply.text
    listed = await tutor.slash("/prompt", f"list module:{MODULE}", channel=chan)
    line = await listed.wait_ephemeral(contains="Week 1: bias and variance")
    assert "opens" in line.text
    # Matched by e-mail: the tutor's Slack id is now on the roster.
    async with slack.db.session() as s:
        person = (
            await s.execute(select(Person).where(Person.platform_user_id == tutor.id))
        ).scalar_one()
    assert person.email == tutor.user.email


async def test_missing_fields_open_a_modal_and_its_answer_creates_the_prompt(
    slack: SlackBox,
) -> None:
    tutor = slack.world.tutor_of(MODULE)
    chan = slack.world.channels[MODULE]
    result = await tutor.slash("/prompt", f"create module:{MODULE}", channel=chan)
    assert result.acked
    view = await slack.server.script.wait_for(lambda: tutor.open_views, what="the modal")
    asked = [b["block_id"] for b in view[-1].blocks]
    assert asked == ["title", "opens", "closes", "text"]
    refused = await tutor.submit(
        values={"title": {"value": "Week 2"}, "opens": {"value": "2030-01-26 09:00"}}
    )
    assert refused.errors == {"closes": "`closes` is required."}
    assert not refused.closed
    await tutor.submit(
        values={
            "title": {"value": "Week 2"},
            "opens": {"value": "2030-01-26 09:00"},
            "closes": {"value": "2030-01-30 17:00"},
            "text": {"value": "What did you try?"},
        }
    )

    async def created() -> DiscussionPrompt | None:
        async with slack.db.session() as s:
            return (
                await s.execute(select(DiscussionPrompt).where(DiscussionPrompt.title == "Week 2"))
            ).scalar_one_or_none()

    prompt = await eventually(created, "the prompt from the modal")
    assert prompt.body == "What did you try?"
    await eventually(
        lambda: _async(
            any("Scheduled prompt" in e.text for e in slack.server.script.ephemerals(tutor))
        ),
        "the private confirmation",
    )


async def test_bad_text_is_one_sentence_naming_the_field_and_changes_nothing(
    slack: SlackBox,
) -> None:
    tutor = slack.world.tutor_of(MODULE)
    chan = slack.world.channels[MODULE]
    result = await tutor.slash("/prompt", f"list modul:{MODULE}", channel=chan)
    await result.wait_ephemeral(contains="/prompt list has no option `modul` (options: module).")
    result = await tutor.slash(
        "/prompt",
        f'create module:{MODULE} title:T opens:someday closes:"2030-01-23 17:00" text:x',
        channel=chan,
    )
    reply = await result.wait_ephemeral(contains="someday")
    assert "\n" not in reply.text
    async with slack.db.session() as s:
        assert (await s.execute(select(DiscussionPrompt))).first() is None


async def test_a_student_cannot_create_prompts_and_sees_their_marks_and_calendar(
    slack: SlackBox,
) -> None:
    student = slack.world.students_of(MODULE)[0]
    chan = slack.world.channels[MODULE]
    refused = await student.slash("/prompt", f"{CREATE} text:x", channel=chan)
    reply = await refused.wait_ephemeral()
    assert "Scheduled" not in reply.text
    assert "Only tutors of MATH70097" in reply.text
    marks = await student.slash("/marks", f"module:{MODULE}", channel=chan)
    await marks.wait_ephemeral(contains=MODULE)
    zone = await student.slash("/calendar", "timezone zone:Asia/Tokyo", channel=chan)
    await zone.wait_ephemeral(contains="Asia/Tokyo")
    upcoming = await student.slash("/calendar", "upcoming", channel=chan)
    assert (await upcoming.wait_ephemeral()).text
    async with slack.db.session() as s:
        person = (
            await s.execute(select(Person).where(Person.platform_user_id == student.id))
        ).scalar_one()
    assert person.timezone == "Asia/Tokyo"


async def _async(value: bool) -> bool:
    return value


async def test_calendar_settings_by_name_value_options(slack: SlackBox) -> None:
    student = slack.world.students_of(MODULE)[0]
    chan = slack.world.channels[MODULE]
    off = await student.slash("/calendar", "reminders enabled:false", channel=chan)
    assert "\n" not in (await off.wait_ephemeral()).text
    quiet = await student.slash("/calendar", "quiet-hours start:22:00 end:07:00", channel=chan)
    await quiet.wait_ephemeral(contains="22:00")
    wrong = await student.slash("/calendar", "reminders enabled:sometimes", channel=chan)
    await wrong.wait_ephemeral(contains="`enabled` must be true or false, not `sometimes`.")
    feed = await student.slash("/calendar", "reset-feed", channel=chan)
    await feed.wait_ephemeral(contains="Your old calendar address no longer works")
    async with slack.db.session() as s:
        person = (
            await s.execute(select(Person).where(Person.platform_user_id == student.id))
        ).scalar_one()
    assert person.dm_reminders is False


async def test_a_tutor_adds_a_deadline_the_students_see_it_coming(slack: SlackBox) -> None:
    tutor = slack.world.tutor_of(MODULE)
    student = slack.world.students_of(MODULE)[0]
    chan = slack.world.channels[MODULE]
    wrong = await tutor.slash(
        "/deadline", f"add module:{MODULE} kind:exam title:CW1 due:2030-03-01", channel=chan
    )
    await wrong.wait_ephemeral(contains="`kind` must be one of submission_deadline,")
    added = await tutor.slash(
        "/deadline",
        f'add module:{MODULE} kind:submission_deadline title:"Coursework 1" due:"2030-01-20 AoE"',
        channel=chan,
    )
    await added.wait_ephemeral(contains="Coursework 1")
    upcoming = await student.slash("/calendar", "upcoming", channel=chan)
    await upcoming.wait_ephemeral(contains="Coursework 1")

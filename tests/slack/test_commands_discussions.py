"""``/prompt`` beyond create/list on Slack: a tutor extends, closes, grades (by mention, by a
shared CSV), reads the scores (the CSV arrives in their DMs) and releases; a student reads
their marks and answers a private prompt through a modal; refusals change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.db.models import (
    Contribution,
    DiscussionPrompt,
    DiscussionScore,
    Person,
    PromptStatus,
)
from slackapp.commands.table import BY_PATH, COMMANDS
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


def test_no_command_is_declared_twice() -> None:
    """The table and the feature modules each declare a command once (the last would win)."""
    assert len(BY_PATH) == len(COMMANDS)


async def open_prompt(box: SlackBox, *, private: bool = False) -> DiscussionPrompt:
    """A tutor schedules a prompt by slash command; the term's clock reaches its opening."""
    tutor = box.world.tutor_of(MODULE)
    result = await tutor.slash(
        "/prompt",
        f'create module:{MODULE} title:"Week 1" opens:"2030-01-19 09:00" '
        f'closes:"2030-01-23 17:00" private_answers:{str(private).lower()} '
        'text:"Where have you met the bias-variance trade-off?"',
        channel=box.world.channels[MODULE],
    )
    await result.wait_ephemeral(contains="Scheduled prompt")
    box.clock.set(datetime(2030, 1, 19, 9, 1, tzinfo=UTC))

    async def opened() -> DiscussionPrompt | None:
        await box.app.discussions.run_due()
        await box.app.work.send_owed()
        async with box.db.session() as s:
            prompt = (await s.execute(select(DiscussionPrompt))).scalar_one()
        return prompt if prompt.status == PromptStatus.OPEN and prompt.thread_id else None

    return await eventually(opened, "the prompt posted and its thread opened")


async def scores(box: SlackBox) -> list[DiscussionScore]:
    async with box.db.session() as s:
        return list((await s.execute(select(DiscussionScore))).scalars())


async def test_a_tutor_extends_closes_grades_scores_and_releases(slack: SlackBox) -> None:
    prompt = await open_prompt(slack)
    assert prompt.thread_id is not None
    chan = slack.world.channels[MODULE]
    tutor = slack.world.tutor_of(MODULE)
    first, second = slack.world.students_of(MODULE)[:2]
    parent = prompt.thread_id.split("/")[1]
    await first.post(chan, "Splines: more knots, less bias, more variance.", thread_ts=parent)

    # A student named the way Slack's client writes it (@handle): told privately by DM.
    extended = await tutor.slash(
        "/prompt",
        f'extend prompt:{prompt.id} student:@{second.name} until:"2030-01-30 17:00" reason:MC-2',
    )
    reply = await extended.wait_ephemeral(contains="now has until")
    assert "<!date^" in reply.text
    assert "They were told privately." in reply.text or "still under way" in reply.text
    await second.wait_dm(contains="#1")

    closed = await tutor.slash("/prompt", f"close prompt:{prompt.id}")
    await closed.wait_ephemeral(contains="closes now; its thread is locked")

    graded = await tutor.slash(
        "/prompt",
        f'grade prompt:{prompt.id} student:{first.mention} quality:3 feedback:"Clear example."',
    )
    await graded.wait_ephemeral(contains=f"on prompt #{prompt.id}")

    table = await tutor.slash("/prompt", f"scores prompt:{prompt.id}")
    listed = await table.wait_ephemeral(contains="provisional, not released")
    assert first.user.real_name in listed.text
    assert "in your direct messages" in listed.text
    await tutor.wait_dm(contains="prompt-1-scores.csv")
    (shared,) = [f for m in tutor.dms() for f in m.files]
    assert shared.name.endswith(".csv") and b"quality_points" in shared.content

    early = await tutor.slash("/prompt", f"release prompt:{prompt.id}")
    await early.wait_ephemeral(contains="release the marks after it ends")
    slack.clock.set(datetime(2030, 1, 31, 9, 0, tzinfo=UTC))
    released = await tutor.slash("/prompt", f"release prompt:{prompt.id}")
    said = await released.wait_ephemeral(contains="Released the marks")
    assert "told privately" in said.text
    # The marks go out by DM at Slack's pace, after the answer.
    await first.wait_dm(contains="Week 1", timeout=60)

    mine = await first.slash("/prompt", "mine")
    answer = await mine.wait_ephemeral(contains="released")
    assert "Clear example." in answer.text


async def test_grades_from_a_csv_the_tutor_shared_first(slack: SlackBox) -> None:
    prompt = await open_prompt(slack)
    tutor = slack.world.tutor_of(MODULE)
    first = slack.world.students_of(MODULE)[0]
    await (await tutor.slash("/prompt", f"close prompt:{prompt.id}")).wait_ephemeral(
        contains="closes now"
    )
    csv = f"email,quality_points,feedback\n{first.user.email},2.5,Thoughtful\n".encode()
    shared = await tutor.upload(tutor.dm_channel(), "grades.csv", csv)
    link = shared.to_json()["permalink"]

    # Someone else's file is refused in one sentence.
    other = await first.upload(first.dm_channel(), "mine.csv", csv)
    refused = await tutor.slash(
        "/prompt", f"grade-csv prompt:{prompt.id} file:{other.to_json()['permalink']}"
    )
    await refused.wait_ephemeral(contains="shared by someone else")
    not_a_link = await tutor.slash("/prompt", f"grade-csv prompt:{prompt.id} file:grades.csv")
    await not_a_link.wait_ephemeral(contains="must be a link to a file you shared on Slack")
    assert [s for s in await scores(slack) if s.quality_points is not None] == []

    saved = await tutor.slash("/prompt", f"grade-csv prompt:{prompt.id} file:{link}")
    await saved.wait_ephemeral(contains="1 changed")
    assert [float(s.quality_points) for s in await scores(slack) if s.quality_points] == [2.5]


async def test_students_are_refused_tutor_commands_and_nothing_changes(slack: SlackBox) -> None:
    prompt = await open_prompt(slack)
    student = slack.world.students_of(MODULE)[0]
    tutor = slack.world.tutor_of(MODULE)
    refused = await student.slash("/prompt", f"close prompt:{prompt.id}")
    await refused.wait_ephemeral(contains="Only tutors of MATH70097")
    # The role comes before the file: a student's link is not even looked up.
    files_before = len(slack.server.calls_to("files.info"))
    csv_refused = await student.slash("/prompt", f"grade-csv prompt:{prompt.id} file:grades.csv")
    await csv_refused.wait_ephemeral(contains="Only tutors of MATH70097")
    assert len(slack.server.calls_to("files.info")) == files_before
    nobody = await tutor.slash("/prompt", f"grade prompt:{prompt.id} student:@nobody quality:1")
    reply = await nobody.wait_ephemeral(contains="No member `nobody` in this workspace")
    assert "\n" not in reply.text
    missing = await tutor.slash("/prompt", "edit prompt:99 title:New")
    await missing.wait_ephemeral(contains="99")
    async with slack.db.session() as s:
        row = (await s.execute(select(DiscussionPrompt))).scalar_one()
    assert row.status == PromptStatus.OPEN and row.title == "Week 1"
    assert [s for s in await scores(slack) if s.quality_points is not None] == []


async def test_a_private_prompt_is_answered_through_a_modal(slack: SlackBox) -> None:
    prompt = await open_prompt(slack, private=True)
    student = slack.world.students_of(MODULE)[0]
    result = await student.slash("/prompt", f"answer prompt:{prompt.id}")
    assert result.acked
    views = await slack.server.script.wait_for(lambda: student.open_views, what="the modal")
    assert [b["block_id"] for b in views[-1].blocks] == ["answer", "reply_to"]
    await student.submit(values={"answer": {"value": "Ridge regression, in my thesis."}})

    async def posted() -> list[Contribution] | None:
        await slack.app.discussions.recorder.flush()
        async with slack.db.session() as s:
            return list((await s.execute(select(Contribution))).scalars()) or None

    # Posted by the bot under the student's name, and credited to the student.
    (answer,) = await eventually(posted, "the answer relayed into the private channel")
    async with slack.db.session() as s:
        person = (await s.execute(select(Person).where(Person.id == answer.person_id))).scalar_one()
    assert person.platform_user_id == student.id
    assert prompt.thread_id is not None
    texts = [m.text for m in slack.server.script.messages(prompt.thread_id.split("/")[0])]
    assert any("Ridge regression" in t for t in texts)


async def test_a_scheduled_prompt_is_edited_in_one_line_or_through_a_modal(
    slack: SlackBox,
) -> None:
    tutor = slack.world.tutor_of(MODULE)
    created = await tutor.slash(
        "/prompt",
        f'create module:{MODULE} title:"Week 1" opens:"2030-01-19 09:00" '
        'closes:"2030-01-23 17:00" text:"First draft"',
    )
    await created.wait_ephemeral(contains="Scheduled prompt")
    renamed = await tutor.slash("/prompt", 'edit prompt:1 title:"Week 1, revised"')
    await renamed.wait_ephemeral(contains="Updated: ")

    await tutor.slash("/prompt", "edit prompt:1 edit_text:true")
    views = await slack.server.script.wait_for(lambda: tutor.open_views, what="the modal")
    assert [b["block_id"] for b in views[-1].blocks] == ["text"]
    await tutor.submit(values={"text": {"value": "Second draft"}})

    async def edited() -> DiscussionPrompt | None:
        async with slack.db.session() as s:
            row = (await s.execute(select(DiscussionPrompt))).scalar_one()
        return row if row.body == "Second draft" else None

    prompt = await eventually(edited, "the text from the modal saved")
    assert prompt.title == "Week 1, revised"

    student = slack.world.students_of(MODULE)[0]
    refused = await student.slash("/prompt", "edit prompt:1 edit_text:true")
    await refused.wait_ephemeral(contains="Only tutors")
    assert student.open_views == []


async def test_a_late_answer_is_relayed_with_a_real_mention_of_its_author(slack: SlackBox) -> None:
    """The header names the student as a Slack mention (not a literal ``<@U…>``); what the
    student typed, a mention or ``<!channel>`` included, is shown as typed and pings nobody."""
    prompt = await open_prompt(slack)
    assert prompt.thread_id is not None
    student, classmate = slack.world.students_of(MODULE)[:2]
    slack.clock.set(datetime(2030, 1, 24, 9, 0, tzinfo=UTC))  # the day after it closed
    await slack.app.discussions.run_due()
    opened = await student.slash("/prompt", f"answer prompt:{prompt.id}")
    assert opened.acked
    await slack.server.script.wait_for(lambda: student.open_views, what="the answer form")
    typed = f"Late, sorry <@{classmate.id}> <!channel>: ridge regression in my thesis."
    await student.submit(values={"answer": {"value": typed}})

    channel, ts = prompt.thread_id.split("/")

    async def relayed() -> list[str] | None:
        texts = [m.text for m in slack.server.script.messages(channel, ts)]
        return [t for t in texts if "ridge regression" in t] or None

    (text,) = await eventually(relayed, "the late answer relayed into the thread")
    assert text.startswith(f"*Answer from <@{student.id}>*")
    assert f"&lt;@{classmate.id}&gt; &lt;!channel&gt;" in text
    assert f"<@{classmate.id}>" not in text

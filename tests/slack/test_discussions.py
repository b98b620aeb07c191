"""A prompt opens on Slack, a student answers in its thread, and the answer is evidence: once,
however often Slack delivers the event, with its edit and its deletion kept."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.db.models import (
    Contribution,
    ContributionRevision,
    DiscussionPrompt,
    ProcessedEvent,
    PromptStatus,
)
from slackapp.chat import split_target
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def open_prompt(box: SlackBox) -> DiscussionPrompt:
    """A tutor schedules a prompt by slash command; the term's clock reaches its opening."""
    tutor = box.world.tutor_of(MODULE)
    chan = box.world.channels[MODULE]
    result = await tutor.slash(
        "/prompt",
        f'create module:{MODULE} title:"Week 1" opens:"2030-01-19 09:00" '
        'closes:"2030-01-23 17:00" text:"Where have you met the bias-variance trade-off?"',
        channel=chan,
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


async def contributions(box: SlackBox) -> list[Contribution]:
    await box.app.discussions.recorder.flush()
    async with box.db.session() as s:
        return list((await s.execute(select(Contribution))).scalars())


async def test_an_answer_in_the_prompts_thread_is_recorded_once_with_edit_and_deletion(
    slack: SlackBox,
) -> None:
    prompt = await open_prompt(slack)
    assert prompt.thread_id is not None
    channel, parent = split_target(prompt.thread_id)
    chan = slack.world.channels[MODULE]
    assert channel == chan.id and parent == prompt.message_id
    posted = [m for m in slack.server.script.messages(chan) if m.ts == parent]
    assert posted and "Week 1" in posted[0].text

    # Slack sometimes sends an acknowledged envelope again: every event from here, once more.
    slack.server.socket.redeliver_acked = 10
    student = slack.world.students_of(MODULE)[0]
    ts = await student.post(
        chan, "I met it fitting splines: more knots, less bias.", thread_ts=parent
    )

    async def recorded() -> list[Contribution] | None:
        rows = await contributions(slack)
        return rows or None

    rows = await eventually(recorded, "the answer recorded")

    def redelivered() -> int:
        return sum(
            1 for r in slack.server.socket.records if r.kind == "send" and r.detail["retry"] > 0
        )

    await eventually(lambda: _value(redelivered() >= 1), "the envelope sent again")
    rows = await contributions(slack)
    assert len(rows) == 1
    answer = rows[0]
    assert (answer.message_id, answer.thread_id) == (ts, prompt.thread_id)
    assert answer.content.startswith("I met it fitting splines")

    await student.edit(chan, ts, "I met it fitting splines: more knots, less bias, more variance.")

    async def edited() -> Contribution | None:
        (row,) = await contributions(slack)
        return row if row.edited_at is not None else None

    answer = await eventually(edited, "the edit recorded")
    assert answer.content.endswith("more variance.")

    await student.delete(chan, ts)

    async def deleted() -> Contribution | None:
        (row,) = await contributions(slack)
        return row if row.deleted_at is not None else None

    await eventually(deleted, "the deletion recorded")
    await eventually(lambda: _value(redelivered() >= 3), "every event sent again")
    async with slack.db.session() as s:
        count = (await s.execute(select(func.count()).select_from(Contribution))).scalar_one()
        revisions = list((await s.execute(select(ContributionRevision.content))).scalars())
        keys = set((await s.execute(select(ProcessedEvent.key))).scalars())
    assert count == 1
    # The one edit kept the text before it, once, however often its event came.
    assert revisions == ["I met it fitting splines: more knots, less bias."]
    assert f"slack:{slack.server.team_id}:msg:{chan.id}:{ts}" in keys


async def test_a_message_outside_any_prompt_thread_is_not_evidence(slack: SlackBox) -> None:
    await open_prompt(slack)
    student = slack.world.students_of(MODULE)[0]
    await student.post(slack.world.channels[MODULE], "anyone up for a study group?")
    await slack.server.script.wait_acked()
    assert await contributions(slack) == []


async def _value(value: bool) -> bool:
    return value


async def test_a_tutor_closes_a_prompt_early_by_number(slack: SlackBox) -> None:
    prompt = await open_prompt(slack)
    tutor = slack.world.tutor_of(MODULE)
    result = await tutor.slash(
        "/prompt", f"close prompt:{prompt.id}", channel=slack.world.channels[MODULE]
    )
    await result.wait_ephemeral(contains=f"Prompt #{prompt.id} “Week 1” closes now")

    async def closed() -> DiscussionPrompt | None:
        await slack.app.work.send_owed()
        async with slack.db.session() as s:
            row = await s.get(DiscussionPrompt, prompt.id)
        return row if row is not None and row.status == PromptStatus.CLOSED else None

    await eventually(closed, "the prompt closed")
    assert prompt.thread_id is not None
    assert slack.app.chat.thread_states[prompt.thread_id]["locked"] is True


async def test_a_student_sees_their_provisional_score_with_prompt_mine(slack: SlackBox) -> None:
    prompt = await open_prompt(slack)
    assert prompt.thread_id is not None
    _, parent = split_target(prompt.thread_id)
    chan = slack.world.channels[MODULE]
    student = slack.world.students_of(MODULE)[0]
    await student.post(
        chan, "Ridge regression: a little bias buys a lot less variance.", thread_ts=parent
    )
    await eventually(lambda: _value_of(contributions(slack)), "the answer recorded")
    mine = await student.slash("/prompt", "mine", channel=chan)
    await mine.wait_ephemeral(contains=f"#{prompt.id} *Week 1* ({MODULE}, provisional)")
    wrong = await student.slash("/prompt", "mine prompt:first", channel=chan)
    await wrong.wait_ephemeral(contains="`prompt` must be a whole number, not `first`.")


async def _value_of(rows: Awaitable[list[Contribution]]) -> list[Contribution] | None:
    return await rows or None


async def test_a_tutor_grades_a_student_named_by_mention_or_e_mail(slack: SlackBox) -> None:
    prompt = await open_prompt(slack)
    assert prompt.thread_id is not None
    _, parent = split_target(prompt.thread_id)
    chan = slack.world.channels[MODULE]
    tutor = slack.world.tutor_of(MODULE)
    amara, lukas = slack.world.students_of(MODULE)[:2]
    for student in (amara, lukas):
        await student.post(chan, "Shrinkage trades variance for bias.", thread_ts=parent)
    close = await tutor.slash("/prompt", f"close prompt:{prompt.id}", channel=chan)
    await close.wait_ephemeral(contains="closes now")
    graded = await tutor.slash(
        "/prompt",
        f'grade prompt:{prompt.id} student:<@{amara.id}|{amara.name}> quality:3 feedback:"Clear"',
        channel=chan,
    )
    await graded.wait_ephemeral(contains=f"on prompt #{prompt.id}:")
    by_mail = await tutor.slash(
        "/prompt", f"grade prompt:{prompt.id} student:{lukas.user.email} quality:2", channel=chan
    )
    await by_mail.wait_ephemeral(contains=f"on prompt #{prompt.id}:")
    nobody = await tutor.slash("/prompt", f"grade prompt:{prompt.id} student:@nobody", channel=chan)
    await nobody.wait_ephemeral(contains="No member `nobody` in this workspace")

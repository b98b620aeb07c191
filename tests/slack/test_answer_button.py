"""A "post before you see others" prompt on Slack: its post carries an Answer button that opens
the answer form; the answer is recorded once (a double submit too) and only then is the student
let into the prompt's private channel, where the bot relays the answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.db.models import Contribution, DiscussionPrompt, PromptStatus
from bot.discussions.jobs import ANSWER_PREFIX
from cohortlab.localslack import Message
from tests.slack.conftest import SlackBox, eventually

pytestmark = pytest.mark.e2e

MODULE = "MATH70097"


async def open_private_prompt(box: SlackBox) -> tuple[DiscussionPrompt, Message]:
    """A tutor schedules a private-answer prompt; at its opening it is posted with Answer."""
    tutor = box.world.tutor_of(MODULE)
    chan = box.world.channels[MODULE]
    created = await tutor.slash(
        "/prompt",
        f'create module:{MODULE} title:"Week 1" opens:"2030-01-19 09:00" '
        'closes:"2030-01-23 17:00" private_answers:true '
        'text:"Where have you met the bias-variance trade-off?"',
        channel=chan,
    )
    await created.wait_ephemeral(contains="Scheduled prompt")
    box.clock.set(datetime(2030, 1, 19, 9, 1, tzinfo=UTC))

    async def opened() -> tuple[DiscussionPrompt, Message] | None:
        await box.app.discussions.run_due()
        await box.app.work.send_owed()
        async with box.db.session() as s:
            prompt = (await s.execute(select(DiscussionPrompt))).scalar_one()
        if prompt.status != PromptStatus.OPEN or not prompt.thread_id:
            return None
        post = next(
            (
                m
                for m in box.server.script.messages(chan)
                if f"{ANSWER_PREFIX}{prompt.id}" in _action_ids(m)
            ),
            None,
        )
        return (prompt, post) if post is not None else None

    return await eventually(opened, "the prompt posted with its Answer button")


def _action_ids(message: Message) -> list[str]:
    return [
        str(e.get("action_id"))
        for b in message.blocks or []
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]


async def _answers(box: SlackBox) -> list[Contribution]:
    await box.app.discussions.recorder.flush()
    async with box.db.session() as s:
        return list((await s.execute(select(Contribution))).scalars())


async def test_the_answer_button_records_one_answer_then_opens_the_private_channel(
    slack: SlackBox,
) -> None:
    prompt, post = await open_private_prompt(slack)
    assert prompt.thread_id is not None
    private = slack.server.state.channel(prompt.thread_id)
    assert private.is_private
    student, classmate = slack.world.students_of(MODULE)[:2]
    assert student.id not in private.members  # nobody sees others' answers before answering

    clicked = await student.click(post, f"{ANSWER_PREFIX}{prompt.id}")
    assert clicked.acked
    form = await slack.server.wait_until(
        lambda: student.open_views[-1] if student.open_views else None,
        timeout=5.0,
        describe=lambda: f"no answer form opened; answers {clicked.responses}",
    )
    answer = "I met it fitting splines: more knots, less bias, more variance."
    typed = {"answer": {"value": answer}}
    # A double press of Submit: both deliveries reach the app, one answer is recorded.
    first, second = await asyncio.gather(student.submit(form, typed), student.submit(form, typed))
    assert first.acked and second.acked and first.errors == {} and second.errors == {}
    assert form.closed

    async def recorded() -> list[Contribution] | None:
        rows = await _answers(slack)
        return rows or None

    rows = await eventually(recorded, "the answer recorded")
    await slack.server.script.wait_acked()
    rows = await _answers(slack)
    assert len(rows) == 1 and answer in rows[0].content
    await slack.server.wait_until(
        lambda: student.id in slack.server.state.channel(private.id).members or None,
        timeout=5.0,
        describe=lambda: "the student was not added to the prompt's private channel",
    )
    relayed = [m for m in slack.server.script.messages(private) if answer in m.text]
    assert len(relayed) == 1
    assert classmate.id not in slack.server.state.channel(private.id).members

    # Each press opens the form (a form closed unsent can be opened again); Cancel adds nothing.
    again = await student.click(post, f"{ANSWER_PREFIX}{prompt.id}")
    assert again.acked
    reopened = await slack.server.wait_until(
        lambda: student.open_views[-1] if student.open_views else None,
        timeout=5.0,
        describe=lambda: f"no form opened again; answers {again.responses}",
    )
    assert reopened.id != form.id
    await student.close(reopened)
    assert len(await _answers(slack)) == 1


async def test_a_tutor_pressing_answer_is_refused_and_no_form_opens(slack: SlackBox) -> None:
    prompt, post = await open_private_prompt(slack)
    tutor = slack.world.tutor_of(MODULE)
    clicked = await tutor.click(post, f"{ANSWER_PREFIX}{prompt.id}")
    reply = await slack.server.wait_until(
        lambda: clicked.responses or None,
        timeout=5.0,
        describe=lambda: "no answer to the tutor's click",
    )
    assert reply[0].get("response_type") == "ephemeral" and reply[0].get("text")
    assert not tutor.open_views
    assert await _answers(slack) == []

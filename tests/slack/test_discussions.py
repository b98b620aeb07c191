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
    # The prompt's message id names its channel and ts, and is its thread's id too.
    assert channel == chan.id and prompt.message_id == prompt.thread_id
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
    assert (answer.message_id, answer.thread_id) == (f"{chan.id}/{ts}", prompt.thread_id)
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
    assert f"slack:{slack.server.team_id}:msg:{chan.id}/{ts}" in keys


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


async def schedule_prompt(box: SlackBox, module: str, title: str) -> None:
    tutor = box.world.tutor_of(module)
    result = await tutor.slash(
        "/prompt",
        f'create module:{module} title:"{title}" opens:"2030-01-19 09:00" '
        'closes:"2030-01-23 17:00" text:"What did this week change in how you model?"',
        channel=box.world.channels[module],
    )
    await result.wait_ephemeral(contains="Scheduled prompt")


async def test_answers_at_the_same_ts_in_two_prompt_threads_are_both_kept_with_their_edits(
    slack: SlackBox,
) -> None:
    """Slack's ts is unique within a channel only: two students answering in two modules'
    prompt threads at the very same ts are two answers, each recorded once, each edited alone."""
    other = "MATH70098"
    await schedule_prompt(slack, MODULE, "Week 1")
    await schedule_prompt(slack, other, "Week 1 (inference)")
    slack.clock.set(datetime(2030, 1, 19, 9, 1, tzinfo=UTC))

    async def both_open() -> list[DiscussionPrompt] | None:
        await slack.app.discussions.run_due()
        await slack.app.work.send_owed()
        async with slack.db.session() as s:
            rows = list((await s.execute(select(DiscussionPrompt))).scalars())
        ready = [p for p in rows if p.status == PromptStatus.OPEN and p.thread_id]
        return ready if len(ready) == 2 else None

    prompts = await eventually(both_open, "both prompts posted and their threads opened")
    threads = {p.title: str(p.thread_id) for p in prompts}
    here, there = slack.world.channels[MODULE], slack.world.channels[other]
    first = slack.world.students_of(MODULE)[0]
    second = next(s for s in slack.world.students_of(other) if s.id != first.id)
    _, here_parent = split_target(threads["Week 1"])
    _, there_parent = split_target(threads["Week 1 (inference)"])
    ts = await first.post(
        here, "Splines taught me the bias-variance trade-off.", thread_ts=here_parent
    )
    same = await second.post(
        there, "Bootstrap intervals changed how I report error.", thread_ts=there_parent, ts=ts
    )
    assert same == ts

    async def both_recorded() -> list[Contribution] | None:
        rows = await contributions(slack)
        return rows if len(rows) == 2 else None

    rows = await eventually(both_recorded, "both answers recorded")
    by_thread = {r.thread_id: r for r in rows}
    assert set(by_thread) == {threads["Week 1"], threads["Week 1 (inference)"]}
    assert by_thread[threads["Week 1"]].content.startswith("Splines")
    assert by_thread[threads["Week 1 (inference)"]].content.startswith("Bootstrap")
    assert len({r.message_id for r in rows}) == 2

    await first.edit(here, ts, "Splines taught me the bias-variance trade-off, knot by knot.")
    await second.edit(there, ts, "Bootstrap intervals changed how I report every error bar.")

    async def both_edited() -> list[Contribution] | None:
        rows = await contributions(slack)
        return rows if len(rows) == 2 and all(r.edited_at for r in rows) else None

    rows = await eventually(both_edited, "both edits recorded")
    contents = {r.thread_id: r.content for r in rows}
    assert contents == {
        threads["Week 1"]: "Splines taught me the bias-variance trade-off, knot by knot.",
        threads["Week 1 (inference)"]: "Bootstrap intervals changed how I report every error bar.",
    }

    # Deleting one answer leaves the other, at the same ts elsewhere, standing.
    await first.delete(here, ts)

    async def one_deleted() -> list[Contribution] | None:
        rows = await contributions(slack)
        return rows if any(r.deleted_at for r in rows) else None

    rows = await eventually(one_deleted, "the deletion recorded")
    assert {r.thread_id: r.deleted_at is not None for r in rows} == {
        threads["Week 1"]: True,
        threads["Week 1 (inference)"]: False,
    }
    async with slack.db.session() as s:
        revisions = sorted((await s.execute(select(ContributionRevision.content))).scalars())
    assert revisions == [
        "Bootstrap intervals changed how I report error.",
        "Splines taught me the bias-variance trade-off.",
    ]


async def test_a_post_made_while_the_socket_was_down_is_recorded_once_after_reconnecting(
    slack: SlackBox,
) -> None:
    prompt = await open_prompt(slack)
    assert prompt.thread_id is not None
    _, parent = split_target(prompt.thread_id)
    chan = slack.world.channels[MODULE]
    first, second = slack.world.students_of(MODULE)[:2]
    await first.post(chan, "Splines taught me the trade-off.", thread_ts=parent)

    async def recorded(n: int) -> list[Contribution] | None:
        rows = await contributions(slack)
        return rows if len(rows) >= n else None

    await eventually(lambda: recorded(1), "the answer before the outage recorded")
    recorder = slack.app.discussions.recorder
    assert recorder.is_read_through(prompt.thread_id)

    # The socket drops and stays down; Slack does not deliver what is posted meanwhile.
    hub = slack.server.socket
    hub.lose_while_down = True
    hub.hold()
    await hub.drop()
    ts = await second.post(chan, "Bootstrap intervals, posted during the outage.", thread_ts=parent)
    assert hub.count("lost") == 1

    async def marked_down() -> bool:
        return not recorder.is_read_through(prompt.thread_id or "")

    await eventually(marked_down, "the app noticing the session ended")
    assert len(await contributions(slack)) == 1

    # slack_sdk reconnects by itself; the app reads the thread and finds the missed post.
    hub.release()
    rows = await eventually(lambda: recorded(2), "the missed post recorded after reconnecting")
    await slack.app.discussions.settled()
    ts_after = await first.post(chan, "And a reply after the outage.", thread_ts=parent)
    rows = await eventually(lambda: recorded(3), "a live post after reconnecting recorded")
    ids = sorted(r.message_id for r in rows)
    assert len(set(ids)) == 3
    assert f"{chan.id}/{ts}" in ids and f"{chan.id}/{ts_after}" in ids
    missed = next(r for r in rows if r.message_id == f"{chan.id}/{ts}")
    assert missed.content == "Bootstrap intervals, posted during the outage."
    assert hub.count("hello") == 2
    assert recorder.is_read_through(prompt.thread_id)

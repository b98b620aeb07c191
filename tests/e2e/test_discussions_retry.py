"""A retry after a crash or a failed call finds what the first attempt posted: never twice.

The scheduled work of a prompt (its post, its closing summary, each student's mark message,
sent by the outbox) is claimed, sent, then recorded. A process that dies between sending and
recording leaves a claim that goes stale and is retried; these tests put the database in
exactly that state (or make the local Discord server refuse a call half-way) and check that the
retry reads the channel first.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.db.models import (
    DiscussionPrompt,
    DiscussionScore,
    OutboxMessage,
    OutboxState,
    Person,
    PromptStatus,
)
from bot.discussions.jobs import STALE_CLAIM
from cohortlab.localdiscord.models import Message
from cohortlab.sandbox import Sandbox, World
from tests.e2e.test_discussions import MODULE, open_prompt, schedule, tutor, words

pytestmark = pytest.mark.e2e

MESSAGES = "/channels/{channel_id}/messages"


def bot_messages(sandbox: Sandbox, channel: object, marker: str) -> list[Message]:
    return [
        m
        for m in sandbox.server.script.messages(channel)  # type: ignore[arg-type]
        if m.author_id == sandbox.server.bot_user_id and marker in m.content
    ]


async def prompt_row(sandbox: Sandbox, prompt_id: int) -> DiscussionPrompt:
    async with sandbox.db.session() as s:
        row = await s.get(DiscussionPrompt, prompt_id)
        assert row is not None
        return row


async def as_if_crashed(sandbox: Sandbox, prompt_id: int, **values: object) -> None:
    """The database as a process left it that died after sending, before recording."""
    async with sandbox.db.session() as s:
        await s.execute(
            update(DiscussionPrompt).where(DiscussionPrompt.id == prompt_id).values(**values)
        )


async def crashed_after_opening(sandbox: Sandbox, prompt_id: int) -> DiscussionPrompt:
    """An opened prompt, as if the process died after posting and threading, before recording
    either; returns the prompt as it really was."""
    before = await prompt_row(sandbox, prompt_id)
    assert before.status == PromptStatus.OPEN and before.thread_id is not None
    await as_if_crashed(
        sandbox,
        prompt_id,
        status=PromptStatus.OPENING,
        claimed_at=before.opens_at,
        message_id=None,
        thread_id=None,
    )
    async with sandbox.db.session() as s:  # the outbox had not recorded its posts either
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == "prompt", OutboxMessage.scope_id == prompt_id)
            .values(
                state=OutboxState.CLAIMED,
                claimed_by="dead",
                claimed_at=before.opens_at,
                lease_until=before.opens_at + STALE_CLAIM,
                sent_at=None,
                sent_message_id=None,
            )
        )
    return before


async def test_an_opening_refused_half_way_posts_only_the_missing_parts(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    prompt_id = await schedule(sandbox, world, text=words(420, "context"))
    # the first part goes through, the rest is refused (a permission hiccup) for as long as
    # the hiccup lasts: however often the bot retries meanwhile, it posts nothing twice
    fault = sandbox.server.fail_route(MESSAGES, method="POST", status=403, after=1, times=None)
    await sandbox.advance(timedelta(hours=1, minutes=1))
    assert fault.hits >= 1
    assert (await prompt_row(sandbox, prompt_id)).status == PromptStatus.SCHEDULED
    assert len(bot_messages(sandbox, channel, f"prompt {prompt_id} · part")) == 1

    fault.times = fault.hits  # the hiccup is over
    await sandbox.advance(timedelta(minutes=1))  # the next run
    parts = bot_messages(sandbox, channel, f"prompt {prompt_id} · part")
    markers = [m.content.splitlines()[-1] for m in parts]
    assert len(parts) >= 3 and len(set(markers)) == len(parts)  # each part exactly once
    assert markers[0].endswith(f"part 1 of {len(parts)}")
    row = await prompt_row(sandbox, prompt_id)
    assert row.status == PromptStatus.OPEN
    assert row.message_id == str(parts[-1].id) and parts[-1].thread_id is not None
    assert row.thread_id == str(parts[-1].thread_id)


async def test_a_stale_opening_claim_adopts_the_post_and_thread_it_finds(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    prompt_id, _post = await open_prompt(sandbox, world)
    before = await crashed_after_opening(sandbox, prompt_id)
    await sandbox.advance(STALE_CLAIM + timedelta(minutes=1))
    after = await prompt_row(sandbox, prompt_id)
    assert after.status == PromptStatus.OPEN
    assert (after.message_id, after.thread_id) == (before.message_id, before.thread_id)
    assert len(bot_messages(sandbox, channel, f"prompt {prompt_id} · part")) == 1


async def test_an_unreadable_channel_delays_the_retry_and_never_doubles_it(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    prompt_id, _post = await open_prompt(sandbox, world)
    before = await crashed_after_opening(sandbox, prompt_id)
    fault = sandbox.server.fail_route(MESSAGES, method="GET", status=403)
    await sandbox.advance(STALE_CLAIM + timedelta(minutes=1))
    assert fault.hits == 1
    assert (await prompt_row(sandbox, prompt_id)).status != PromptStatus.OPEN  # waits
    await sandbox.advance(timedelta(minutes=1))
    after = await prompt_row(sandbox, prompt_id)
    assert after.status == PromptStatus.OPEN and after.thread_id == before.thread_id
    assert len(bot_messages(sandbox, channel, f"prompt {prompt_id} · part")) == 1


async def test_a_stale_closing_claim_does_not_post_the_summary_again(
    sandbox: Sandbox, world: World
) -> None:
    prompt_id, _post = await open_prompt(sandbox, world, lasts=timedelta(days=1))
    await sandbox.advance(timedelta(days=1))
    row = await prompt_row(sandbox, prompt_id)
    assert row.status == PromptStatus.CLOSED and row.thread_id is not None
    thread = sandbox.server.script.channel(int(row.thread_id))
    assert len(bot_messages(sandbox, thread, f"prompt {prompt_id} · closed")) == 1
    await as_if_crashed(sandbox, prompt_id, status=PromptStatus.CLOSING, claimed_at=row.closes_at)
    await sandbox.advance(STALE_CLAIM + timedelta(minutes=1))
    assert (await prompt_row(sandbox, prompt_id)).status == PromptStatus.CLOSED
    assert len(bot_messages(sandbox, thread, f"prompt {prompt_id} · closed")) == 1


async def test_a_stale_mark_message_claim_finds_the_dm_already_sent(
    sandbox: Sandbox, world: World
) -> None:
    channel = world.channel(MODULE)
    amara = world.students(MODULE)[0]
    prompt_id, _post = await open_prompt(sandbox, world, lasts=timedelta(days=1))
    thread_id = (await prompt_row(sandbox, prompt_id)).thread_id
    assert thread_id is not None
    thread = sandbox.server.script.channel(int(thread_id))
    await amara.post(thread, words(160))
    await sandbox.advance(timedelta(days=1))
    released = tutor(world).command("prompt release", where=channel, prompt=prompt_id)
    await (await released).reply(contains="Released")
    first = await amara.wait_for_dm(contains="is released")
    async with sandbox.db.session() as s:
        person = (
            await s.execute(select(Person).where(Person.platform_user_id == str(amara.id)))
        ).scalar_one()
        score = (
            await s.execute(
                select(DiscussionScore).where(
                    DiscussionScore.prompt_id == prompt_id,
                    DiscussionScore.person_id == person.id,
                )
            )
        ).scalar_one()
        assert score.notices_sent == 1 and score.notified_at is not None
        # died after the DM went out, before recording it: the outbox's message still
        # claimed by the dead sender, the score not told
        score.notified_at = None
        score.notices_sent = 0
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.feature == "discussions", OutboxMessage.ref_id == score.id)
            .values(
                state=OutboxState.CLAIMED,
                claimed_by="dead",
                claimed_at=sandbox.clock.now(),
                lease_until=sandbox.clock.now() + STALE_CLAIM,
                sent_at=None,
                sent_message_id=None,
            )
        )
    await sandbox.advance(STALE_CLAIM + timedelta(minutes=1))
    marks = [m for m in amara.dms() if "is released" in m.content]
    assert [m.id for m in marks] == [first.id]
    async with sandbox.db.session() as s:
        again = await s.get(DiscussionScore, score.id)
        assert again is not None
        assert again.notified_at is not None and again.notices_sent == 1

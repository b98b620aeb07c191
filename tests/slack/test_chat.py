"""The chat port on Slack (``SlackChat``) against the local Slack server: what the outbox and the
scheduled work rely on (posts found again by their marker, threads, DMs, files, errors, 429s)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.chat import (
    Button,
    ButtonStyle,
    ChatError,
    ChatErrorKind,
    FileAttachment,
    OutgoingMessage,
    marker_of,
)
from cohortlab.localslack import LocalSlackServer, message_text
from slackapp.chat import SlackChat, build_client, message_id, split_message, split_target

pytestmark = pytest.mark.e2e


@pytest.fixture
async def server() -> AsyncIterator[LocalSlackServer]:
    async with LocalSlackServer() as srv:
        yield srv
        assert srv.internal_errors == []


@pytest.fixture
async def chat(server: LocalSlackServer) -> AsyncIterator[SlackChat]:
    client = build_client(server.bot_token, server.api_base)
    port = SlackChat(client)
    await port.connect()
    yield port
    if client.session is not None:
        await client.session.close()


async def test_a_post_with_buttons_and_a_marker_is_found_again_in_the_history(
    server: LocalSlackServer, chat: SlackChat
) -> None:
    alice = server.script.add_user("alice", email="alice@uni.example")
    chan = server.script.add_channel("math70097", members=[alice])
    message = OutgoingMessage(
        text="Week 1 is open: **answer in the thread**",
        buttons=(Button("Answer", "answer:1", ButtonStyle.PRIMARY),),
        marker="prompt 1 · opened",
    )
    posted = await chat.post(chan.id, message)
    (sent,) = server.script.messages(chan)
    assert posted.message_id == message_id(chan.id, sent.ts)
    assert "*answer in the thread*" in message_text(sent)
    assert [b["type"] for b in sent.blocks or []] == ["section", "actions", "context"]
    found = [m async for m in chat.history(chan.id)]
    assert [marker_of(m.content) for m in found] == ["prompt 1 · opened"]
    assert found[0].author_is_bot


async def test_a_thread_is_its_parent_ts_and_reads_oldest_first_without_the_parent(
    server: LocalSlackServer, chat: SlackChat
) -> None:
    alice = server.script.add_user("alice", email="alice@uni.example", real_name="Alice Ng")
    chan = server.script.add_channel("math70097", members=[alice])
    parent = await chat.post(chan.id, OutgoingMessage(text="Week 1"))
    _, parent_ts = split_message(parent.message_id)
    thread = await chat.create_thread(chan.id, "Week 1", from_message_id=parent.message_id)
    assert thread == parent.message_id and split_target(thread) == (chan.id, parent_ts)
    first = message_id(chan.id, await alice.post(chan, "first <@U0NOBODY>", thread_ts=parent_ts))
    reply = await chat.post(thread, OutgoingMessage(text="noted"))
    second = message_id(chan.id, await alice.post(chan, "second", thread_ts=parent_ts))
    read = [m async for m in chat.history(thread)]
    assert [m.id for m in read] == [first, reply.message_id, second]
    assert read[0].author.email == "alice@uni.example"
    assert read[0].author.username == "alice"
    assert read[0].mention_ids == ("U0NOBODY",)
    assert {m.channel_id for m in read} == {thread}
    assert [m.id async for m in chat.history(thread, after_id=first)] == [
        reply.message_id,
        second,
    ]


async def test_a_private_thread_is_a_private_channel_members_are_invited_to(
    server: LocalSlackServer, chat: SlackChat
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    private = await chat.create_thread(chan.id, "Week 1: answers", private=True)
    made = server.state.channel(private)
    assert made.is_private and made.name == "week-1-answers"
    await chat.add_thread_member(private, alice.id)
    await chat.add_thread_member(private, alice.id)  # already in: no error
    assert alice.id in made.members
    await chat.set_thread_state(private, locked=True, archived=True)
    assert made.is_archived
    assert chat.thread_states[private] == {"locked": True, "archived": True}


async def test_dms_and_files_use_slacks_own_flows(
    server: LocalSlackServer, chat: SlackChat
) -> None:
    alice = server.script.add_user("alice")
    dm = await chat.dm_channel_id(alice.id)
    assert dm == await chat.dm_channel_id(alice.id)
    await chat.post(
        dm,
        OutgoingMessage(
            text="Your export", files=(FileAttachment("marks.csv", b"student,mark\nA,70\n"),)
        ),
    )
    await server.script.wait_for(lambda: len(alice.dms()) >= 2, what="the text and the file")
    assert [c.method for c in server.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_refusals_map_to_the_ports_error_kinds(
    server: LocalSlackServer, chat: SlackChat
) -> None:
    with pytest.raises(ChatError) as missing:
        await chat.post("C0MISSING", OutgoingMessage(text="hello"))
    assert missing.value.kind is ChatErrorKind.NOT_FOUND
    server.faults.fail_next("chat.postMessage", "fatal_error")
    chan = server.script.add_channel("general")
    with pytest.raises(ChatError) as down:
        await chat.post(chan.id, OutgoingMessage(text="hello"))
    assert down.value.retryable


async def test_a_429_is_waited_out_and_the_post_lands(
    server: LocalSlackServer, chat: SlackChat
) -> None:
    chan = server.script.add_channel("general")
    server.faults.fail_next("chat.postMessage", status=429, retry_after=1)
    posted = await chat.post(chan.id, OutgoingMessage(text="after the wait"))
    statuses = [c.status for c in server.calls_to("chat.postMessage")]
    assert statuses == [429, 200]
    assert [message_id(chan.id, m.ts) for m in server.script.messages(chan)] == [posted.message_id]

"""Threads, DMs and channel permissions as the bot experiences them."""

from __future__ import annotations

import asyncio

import discord
import pytest

from cohortlab.localdiscord import Cohort, LocalDiscordServer
from cohortlab.localdiscord import permissions as P
from cohortlab.localdiscord.scripting import BOT_PERMISSIONS
from tests.localdiscord.conftest import default_intents, running

pytestmark = pytest.mark.e2e


async def test_bot_opens_a_thread_from_a_message_and_replies_in_it(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    replies: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if isinstance(message.channel, discord.Thread) and not message.author.bot:
            await replies.put(message)

    async with running(client, server):
        channel = client.get_channel(cohort.module("MATH70095").id)
        assert isinstance(channel, discord.TextChannel)
        prompt = await channel.send("Prompt 1: discuss")
        thread = await prompt.create_thread(name="Prompt 1 answers")
        assert thread.id == prompt.id and thread.parent_id == channel.id
        answer = await cohort.student.post(thread.id, "my answer")
        got = await asyncio.wait_for(replies.get(), 5)
        assert got.id == answer.id and got.channel.id == thread.id
        assert cohort.student.id in server.state.channels[thread.id].thread_members
        await thread.edit(locked=True, archived=True)
        with pytest.raises(Exception, match="50083"):
            await cohort.student.post(thread.id, "too late")


async def test_private_thread_is_invisible_until_the_bot_is_added(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    server.script.set_overwrite(cohort.general, cohort.roles["bot"], deny=P.MANAGE_THREADS)
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    created: list[int] = []
    joined: list[int] = []
    messages: list[str] = []

    @client.event
    async def on_thread_create(thread: discord.Thread) -> None:
        created.append(thread.id)

    @client.event
    async def on_thread_join(thread: discord.Thread) -> None:
        joined.append(thread.id)

    @client.event
    async def on_message(message: discord.Message) -> None:
        messages.append(message.content)

    async with running(client, server):
        thread = await cohort.student.create_thread(cohort.general, "study group", private=True)
        await cohort.student.post(thread, "secret plan")
        await cohort.student.post(cohort.general, "public marker")
        await server.script.wait_for(lambda: "public marker" in messages, what="marker")
        assert created == [] and joined == [] and "secret plan" not in messages
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.Forbidden) as err:
            await client.http.send_message(thread.id, params=_params("hi"))
        assert err.value.code == 50001
        await cohort.student.add_to_thread(thread, server.bot_user_id)
        await server.script.wait_for(lambda: thread.id in joined, what="THREAD_CREATE (join)")
        assert created == []
        await cohort.student.post(thread, "welcome bot")
        await server.script.wait_for(lambda: "welcome bot" in messages, what="message in thread")


async def test_bot_creates_a_private_thread_and_invites_a_student(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        thread = await channel.create_thread(name="feedback for alice", invitable=False)
        assert thread.type is discord.ChannelType.private_thread
        alice, bob = cohort.students
        assert not server.state.can_view(alice.id, thread.id)
        await thread.add_user(discord.Object(alice.id))
        assert server.state.can_view(alice.id, thread.id)
        assert not server.state.can_view(bob.id, thread.id)
        await thread.send("your mark is 68")
        seen = await server.script.wait_for_message(thread.id, contains="68")
        assert seen.channel_id == thread.id


async def test_channel_overwrites_decide_where_the_bot_may_post(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    module = cohort.module("MATH70096")
    server.script.set_overwrite(module, cohort.roles["bot"], deny=P.SEND_MESSAGES)
    hidden = server.script.create_channel(
        cohort.guild,
        "exam-board",
        overwrites=[P.Overwrite(cohort.guild.id, P.ROLE_TARGET, deny=P.VIEW_CHANNEL)],
    )
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        with pytest.raises(discord.Forbidden) as denied:
            await client.http.send_message(module.id, params=_params("hello"))
        assert denied.value.code == 50013
        with pytest.raises(discord.Forbidden) as unseen:
            await client.http.send_message(hidden.id, params=_params("hello"))
        assert unseen.value.code == 50001
        server.script.set_overwrite(module, cohort.roles["bot"], deny=P.READ_MESSAGE_HISTORY)
        readable = client.get_channel(module.id)
        assert isinstance(readable, discord.TextChannel)
        with pytest.raises(discord.Forbidden) as no_history:
            [m async for m in readable.history(limit=5)]
        assert no_history.value.code == 50013
        staff = client.get_channel(cohort.staff.id)
        assert isinstance(staff, discord.TextChannel)
        await staff.send("staff only note")
        assert not server.state.can_view(cohort.student.id, cohort.staff.id)
        assert BOT_PERMISSIONS & P.SEND_MESSAGES


async def test_bot_opens_a_dm_and_the_student_reads_it(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        student = await client.fetch_user(cohort.student.id)
        await student.send("Your extension is approved")
        dm = await cohort.student.wait_for_dm(contains="extension")
        assert dm.author_id == server.bot_user_id
        server.state.users[cohort.students[1].id].accepts_dms = False
        other = await client.fetch_user(cohort.students[1].id)
        with pytest.raises(discord.Forbidden) as err:
            await other.send("hello")
        assert err.value.code == 50007


def _params(content: str) -> discord.http.MultipartParameters:
    return discord.http.handle_message_parameters(content=content)

"""Messages as Discord handles them: content intent, history, edits, files, mentions, chunks."""

from __future__ import annotations

import asyncio
import io

import discord
import pytest

from cohortlab.localdiscord import Cohort, LocalDiscordServer, Upload
from tests.localdiscord.conftest import default_intents, running

pytestmark = pytest.mark.e2e


async def test_content_is_withheld_without_the_message_content_intent(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    intents = default_intents()
    intents.message_content = False
    client = discord.Client(intents=intents, guild_ready_timeout=0.1)
    seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await seen.put(message)

    async with running(client, server):
        await cohort.student.post(cohort.general, "my essay draft")
        plain = await asyncio.wait_for(seen.get(), 5)
        assert plain.content == "" and plain.author.id == cohort.student.id
        await cohort.student.post(cohort.general, f"<@{server.bot_user_id}> help please")
        mentioned = await asyncio.wait_for(seen.get(), 5)
        assert mentioned.content.endswith("help please")
        await cohort.student.dm("when is the deadline?")
        dm = await asyncio.wait_for(seen.get(), 5)
        assert dm.content == "when is the deadline?" and dm.guild is None


async def test_history_pages_newest_first_and_by_cursor(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    posted = [await cohort.student.post(cohort.general, f"post {i}") for i in range(130)]
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        everything = [m async for m in channel.history(limit=None)]
        assert [m.id for m in everything] == [m.id for m in reversed(posted)]
        later = [
            m.content
            async for m in channel.history(after=discord.Object(posted[99].id), oldest_first=True)
        ]
        assert later == [f"post {i}" for i in range(100, 130)]
        window = [
            m.content async for m in channel.history(around=discord.Object(posted[50].id), limit=5)
        ]
        assert sorted(window) == sorted(f"post {i}" for i in range(48, 53))
        earlier = [m.content async for m in channel.history(before=discord.Object(posted[3].id))]
        assert earlier == ["post 2", "post 1", "post 0"]
        single = await channel.fetch_message(posted[7].id)
        assert single.content == "post 7"


async def test_bot_posts_edits_deletes_and_the_test_sees_it(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        channel = client.get_channel(cohort.module("MATH70095").id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send(
            "Prompt 1 opens", embed=discord.Embed(title="Week 1", description="Discuss bias")
        )
        seen = await server.script.wait_for_message(channel.id, contains="discuss bias")
        assert seen.id == sent.id and seen.embeds[0]["title"] == "Week 1"
        await sent.edit(content="Prompt 1 is open")
        assert server.script.message(sent.id).content == "Prompt 1 is open"
        await sent.pin()
        assert [m.id async for m in channel.pins()] == [sent.id]
        await sent.add_reaction("👍")
        assert server.script.message(sent.id).reactions == {"👍": [server.bot_user_id]}
        await sent.delete()
        assert server.script.messages(channel.id) == []
        assert server.script.messages(channel.id, include_deleted=True)[0].id == sent.id
        assert [
            c.method for c in server.calls_to("/channels/{channel_id}/messages/{message_id}")
        ] == [
            "PATCH",
            "DELETE",
        ]


async def test_files_travel_both_ways(server: LocalDiscordServer, cohort: Cohort) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    downloaded: asyncio.Queue[bytes] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.attachments:
            await downloaded.put(await message.attachments[0].read())

    async with running(client, server):
        await cohort.student.post(
            cohort.general, "my submission", attachments=[Upload("essay.txt", b"essay body")]
        )
        assert await asyncio.wait_for(downloaded.get(), 5) == b"essay body"
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("gradebook", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), "marks.csv"))
        msg = await server.script.wait_for_message(cohort.general, contains="gradebook")
        assert msg.attachments[0].filename == "marks.csv"
        assert msg.attachments[0].data == b"a,b\n1,2\n"
        assert msg.attachments[0].content_type == "text/csv"


async def test_allowed_mentions_none_pings_nobody(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        text = f"{cohort.student.mention} wrote: @everyone <@&{cohort.roles['student'].id}>"
        quiet = await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        loud = await channel.send(text)
        assert quiet.mentions == [] and quiet.role_mentions == [] and not quiet.mention_everyone
        assert [u.id for u in loud.mentions] == [cohort.student.id]
        assert loud.mention_everyone and [r.id for r in loud.role_mentions] == [
            cohort.roles["student"].id
        ]


async def test_oversized_content_is_refused_with_discords_error(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as err:
            await channel.send("x" * 2001)
        assert err.value.status == 400 and err.value.code == 50035
        assert server.script.messages(cohort.general) == []


async def test_large_guild_is_chunked_with_the_nonce(server: LocalDiscordServer) -> None:
    cohort = await server.script.build_cohort(students=[f"s{i:03}" for i in range(300)])
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        guild = client.get_guild(cohort.guild.id)
        assert guild is not None and guild.large
        assert guild.chunked and len(guild.members) == 300 + 3
    requests = [r for r in server.gateway.records if r.kind == "request_members"]
    assert len(requests) == 1 and requests[0].detail["nonce"]

"""A real discord.py client logs in, receives its guild and exchanges messages."""

from __future__ import annotations

import asyncio

import discord
import pytest

from cohortlab.localdiscord import Cohort, LocalDiscordServer
from tests.localdiscord.conftest import default_intents, running

pytestmark = pytest.mark.e2e


async def test_login_ready_populates_guild_cache(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        assert client.user is not None and client.user.id == server.bot_user_id
        guild = client.get_guild(cohort.guild.id)
        assert guild is not None
        assert {c.name for c in guild.text_channels} >= {"general", "staff", "math70095"}
        student = guild.get_member(cohort.student.id)
        assert student is not None and student.roles[-1].name == "Student"
        assert {r.name for r in guild.roles} >= {"@everyone", "Tutor", "Student"}
        assert guild.me.guild_permissions.manage_threads
        assert server.unknown_routes == []


async def test_user_post_arrives_as_on_message_and_bot_replies(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        await seen.put(message)
        await message.channel.send(f"echo: {message.content}")

    async with running(client, server):
        posted = await cohort.student.post(cohort.general, "hello bot")
        received = await asyncio.wait_for(seen.get(), 5)
        assert received.id == posted.id
        assert received.content == "hello bot"
        assert received.author.id == cohort.student.id
        reply = await server.script.wait_for_message(cohort.general, contains="echo: hello bot")
        assert reply.author_id == server.bot_user_id
        assert [m.content for m in server.script.messages(cohort.general)] == [
            "hello bot",
            "echo: hello bot",
        ]


class QuickShards(discord.AutoShardedClient):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s between shard IDENTIFYs (Discord's concurrency); no need here."""


async def test_shards_each_receive_only_their_guilds(server: LocalDiscordServer) -> None:
    cohorts = [await server.script.build_cohort(name=f"Cohort {i}") for i in range(4)]
    client = QuickShards(intents=default_intents(), shard_count=2, guild_ready_timeout=0.1)
    seen: list[tuple[int, int | None]] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        assert message.guild is not None
        seen.append((message.guild.id, message.guild.shard_id))

    async with running(client, server):
        assert len(client.guilds) == 4
        for cohort in cohorts:
            await cohort.student.post(cohort.general, "hello")
        await server.script.wait_for(lambda: len(seen) == 4, what="one message per guild")
        assert sorted(seen) == sorted((c.guild.id, (c.guild.id >> 22) % 2) for c in cohorts)
        assert server.gateway.count("identify") == 2


async def test_privileged_intent_not_enabled_in_the_portal_closes_4014(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    server.app.message_content_enabled = False
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(client.start(server.token), 10)
    await client.close()


async def test_adding_the_bot_to_a_new_guild_fires_guild_join(server: LocalDiscordServer) -> None:
    first = await server.script.build_cohort(name="Cohort A")
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    joined: asyncio.Queue[discord.Guild] = asyncio.Queue()

    @client.event
    async def on_guild_join(guild: discord.Guild) -> None:
        await joined.put(guild)

    async with running(client, server):
        second = await server.script.build_cohort(name="Cohort B", add_bot=False)
        assert client.get_guild(second.guild.id) is None
        server.script.add_bot_to(second.guild, roles=[second.roles["bot"]])
        guild = await asyncio.wait_for(joined.get(), 5)
        assert guild.id == second.guild.id and guild.name == "Cohort B"
        assert guild.get_member(second.student.id) is not None
        assert {g.id for g in client.guilds} == {first.guild.id, second.guild.id}

"""Members joining, leaving and changing roles, seen by the bot; replies between people."""

from __future__ import annotations

import asyncio

import discord
import pytest

from cohortlab.localdiscord import Cohort, LocalDiscordServer
from tests.localdiscord.conftest import default_intents, running

pytestmark = pytest.mark.e2e


async def test_member_join_role_change_and_leave_reach_the_bot(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    events: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    @client.event
    async def on_member_join(member: discord.Member) -> None:
        await events.put(("join", member.id))

    @client.event
    async def on_member_update(before: discord.Member, after: discord.Member) -> None:
        await events.put(("update", after.id))

    @client.event
    async def on_member_remove(member: discord.Member) -> None:
        await events.put(("remove", member.id))

    async with running(client, server):
        carol = cohort.add_student("carol")
        assert await asyncio.wait_for(events.get(), 5) == ("join", carol.id)
        guild = client.get_guild(cohort.guild.id)
        assert guild is not None
        member = guild.get_member(carol.id)
        assert member is not None and [r.name for r in member.roles][-1] == "Student"
        tutor_role = guild.get_role(cohort.roles["tutor"].id)
        assert tutor_role is not None
        await member.add_roles(tutor_role)
        assert await asyncio.wait_for(events.get(), 5) == ("update", carol.id)
        assert cohort.roles["tutor"].id in server.state.guilds[guild.id].members[carol.id].roles
        server.script.remove_member(cohort.guild, carol)
        assert await asyncio.wait_for(events.get(), 5) == ("remove", carol.id)


async def test_bot_cannot_assign_a_role_above_its_own(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    admin = server.script.create_role(cohort.guild, "Programme Director")
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    async with running(client, server):
        guild = client.get_guild(cohort.guild.id)
        assert guild is not None
        member = guild.get_member(cohort.student.id)
        assert member is not None
        with pytest.raises(discord.Forbidden) as err:
            await member.add_roles(discord.Object(admin.id))
        assert err.value.code == 50013


async def test_replies_carry_their_reference_both_ways(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = discord.Client(intents=default_intents(), guild_ready_timeout=0.1)
    replies: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.reference is not None and not message.author.bot:
            await replies.put(message)

    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        prompt = await channel.send("What is overfitting?")
        answer = await cohort.student.post(cohort.general, "memorising noise", reply_to=prompt.id)
        got = await asyncio.wait_for(replies.get(), 5)
        assert got.id == answer.id and got.reference is not None
        assert got.reference.message_id == prompt.id
        assert isinstance(got.reference.resolved, discord.Message)
        assert got.reference.resolved.content == "What is overfitting?"
        assert [u.id for u in got.mentions] == [server.bot_user_id]
        thanks = await got.reply("Good answer", mention_author=False)
        seen = server.script.message(thanks.id)
        assert seen.reference is not None and seen.reference["message_id"] == str(answer.id)
        assert seen.mention_user_ids == []

"""The running bot as people and operators meet it, through the local Discord server."""

from __future__ import annotations

import aiohttp
import pytest

from cohortlab.sandbox import Sandbox, World

pytestmark = pytest.mark.e2e


async def test_about_answers_privately(sandbox: Sandbox, world: World) -> None:
    student = world.students()[0]
    other = world.students()[1]
    handle = await student.command("about")
    reply = await handle.reply(contains="cohortbot")
    assert "provisional until released" in reply.content
    assert reply in student.ephemerals()
    assert reply not in other.ephemerals()


async def test_module_channels_and_roles_are_linked_when_the_bot_starts(
    sandbox: Sandbox, world: World
) -> None:
    from sqlalchemy import select

    from bot.db.models import Module

    async def linked() -> list[tuple[str, str | None, str | None]]:
        async with sandbox.db.session() as s:
            rows = await s.execute(select(Module.code, Module.channel_id, Module.role_id))
            return [tuple(r) for r in rows.all()]

    rows = await linked()
    assert len(rows) == 12
    for code, channel_id, role_id in rows:
        assert channel_id == str(world.channel(code).id)
        assert role_id == str(world.module_roles[code].id)


async def test_health_and_metrics_while_running(sandbox: Sandbox, world: World) -> None:
    await (await world.students()[0].command("about")).reply()
    url = sandbox.app.web.url
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.get(url + "/metrics") as resp:
            metrics = await resp.text()
    assert body["gateway"] == "connected"
    assert body["scheduler"] == "running"
    assert 'cohortbot_commands_total{command="about",outcome="ok"} 1.0' in metrics
    assert 'cohortbot_events_handled_total{event="INTERACTION_CREATE"}' in metrics

    before = sandbox.server.gateway.count("resume")
    await sandbox.server.gateway.drop(code=4000)
    await sandbox.server.wait_until(
        lambda: sandbox.server.gateway.count("resume") > before or None,
        timeout=10,
        describe=lambda: "the bot did not resume",
    )
    await (await world.students()[0].command("about")).reply()
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as resp:
        assert resp.status == 200


async def test_bot_reaches_no_other_host(sandbox: Sandbox, world: World) -> None:
    await (await world.tutors()[0].command("about")).reply()
    assert sandbox.server.calls, "the bot made no REST call at all"
    assert sandbox.hosts_contacted == {f"127.0.0.1:{sandbox.server.port}"}


async def test_message_taps_leave_wait_for_and_listeners_working(
    sandbox: Sandbox, world: World
) -> None:
    """A tap takes its channels' messages from the gateway's payload; discord.py still builds
    and dispatches them when someone waits for or listens to messages, and only then."""
    import asyncio

    import discord

    from bot.chat import WireMessage
    from bot.discord_app import MessageTap

    bot = sandbox.app.bot
    student = world.students()[0]
    channel = world.channel("MATH70097")
    tapped: list[str] = []
    heard: list[str] = []

    def take(message: WireMessage) -> None:
        tapped.append(message[7])

    async def listener(message: discord.Message) -> None:
        heard.append(message.content)

    tap = MessageTap(lambda channel_id: channel_id == str(channel.id), take, "gateway")
    bot.add_message_tap(tap)
    waiting = asyncio.create_task(
        bot.wait_for("message", check=lambda m: m.content == "first", timeout=10)
    )
    await asyncio.sleep(0)
    await student.post(channel, "first")
    assert (await waiting).content == "first"

    bot.add_listener(listener, "on_message")
    await student.post(channel, "second")
    await sandbox.server.wait_until(
        lambda: "second" in heard or None,
        timeout=10,
        describe=lambda: f"the listener heard {heard}",
    )
    bot.remove_listener(listener, "on_message")

    await student.post(channel, "unheard")
    await (await student.command("about")).reply()  # the gateway has moved past it
    cached = [m.content for m in bot.cached_messages]
    assert "second" in cached and "unheard" not in cached  # no discord.Message was built

    bot.remove_message_tap(tap)
    await student.post(channel, "third")
    await (await student.command("about")).reply()  # the gateway has moved past "third"
    assert tapped == ["first", "second", "unheard"]
    assert heard == ["second"]
    assert "third" in [m.content for m in bot.cached_messages]


async def test_the_recorders_fast_path_reads_messages_as_the_chat_port_does(
    sandbox: Sandbox, world: World
) -> None:
    """The tap's messages come from the raw payload (``wire_from_payload``); for real gateway
    messages (a reply, a mention, an attachment, an edit) they must say exactly what
    ``to_chat_message`` says of discord.py's message."""
    import discord

    from bot.chat import WireMessage, unwire_message, wire_message
    from bot.discord_app import MessageTap
    from bot.discord_chat import to_chat_message

    bot = sandbox.app.bot
    first, second = world.students()[:2]
    channel = world.channel("MATH70097")
    fast: list[WireMessage] = []
    ported: list[WireMessage] = []

    async def listener(message: discord.Message) -> None:
        if message.channel.id == channel.id:
            ported.append(wire_message(to_chat_message(message), "gateway"))

    tap = MessageTap(lambda channel_id: channel_id == str(channel.id), fast.append, "gateway")
    bot.add_message_tap(tap)
    bot.add_listener(listener, "on_message")
    try:
        original = await first.post(channel, "my answer")
        # The listener runs later, as a task: let it see the message before the edit.
        await (await first.command("about")).reply()
        await first.edit(original, "my answer, edited")
        await second.post(
            channel,
            f"<@{first.id}> I disagree",
            reply_to=original,
            attachments=[("notes.txt", b"evidence")],
        )
        await (await second.command("about")).reply()  # the gateway has moved past both
    finally:
        bot.remove_listener(listener, "on_message")
        bot.remove_message_tap(tap)
    assert len(fast) == 2
    assert fast == ported
    assert fast[0][7] == "my answer"  # as created: the edit is the recorder's edit path
    reply = unwire_message(fast[1])
    assert reply.reply_to_id == str(original.id)
    assert reply.mention_ids == (str(first.id),)
    assert reply.attachment_urls and reply.author.platform_user_id == str(second.id)
    assert reply.created_at.tzinfo is not None

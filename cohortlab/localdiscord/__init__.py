"""A local Discord-compatible server (API v10 subset) for end-to-end tests and the demo.

It speaks the protocol in JSON over a real websocket gateway and real REST, so the real
discord.py client runs against it unchanged. It never imports discord.

    async with LocalDiscordServer(heartbeat_interval_ms=5_000) as server:
        configure_endpoints(server.api_base, server.gateway_url)   # bot.discord_endpoints
        cohort = await server.script.build_cohort(modules=["MATH70095"])
        ...start the bot with server.token (guild_ready_timeout=0.1 keeps start-up fast)...
        handle = await cohort.tutor.command("prompt create", module="MATH70095")
        await handle.reply(contains="created")          # AssertionError lists what was seen
        await server.script.wait_for_message(cohort.module("MATH70095"), contains="opens")
        assert server.unknown_routes == [] and server.internal_errors == []

Modules: state (the world and Discord's rules, pure), gateway and rest (thin protocol layers),
scripting (people acting, waits), interactions (what the Discord client sends), ratelimit,
faults, permissions, snowflake, server (wiring).
"""

from cohortlab.localdiscord.faults import RouteFault
from cohortlab.localdiscord.models import Channel, Message, Role, User
from cohortlab.localdiscord.ratelimit import BucketRule, RateLimiter
from cohortlab.localdiscord.rest import RestCall
from cohortlab.localdiscord.scripting import (
    BOT_PERMISSIONS,
    Actor,
    Cohort,
    InteractionHandle,
    Script,
    message_text,
)
from cohortlab.localdiscord.server import DEFAULT_TOKEN, LocalDiscordServer
from cohortlab.localdiscord.state import ApiError, Upload

__all__ = [
    "BOT_PERMISSIONS",
    "DEFAULT_TOKEN",
    "Actor",
    "ApiError",
    "BucketRule",
    "Channel",
    "Cohort",
    "InteractionHandle",
    "LocalDiscordServer",
    "Message",
    "RateLimiter",
    "RestCall",
    "Role",
    "RouteFault",
    "Script",
    "Upload",
    "User",
    "message_text",
]

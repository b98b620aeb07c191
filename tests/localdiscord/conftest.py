"""Fixtures: a fresh local Discord server per test and a way to run a real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest

from bot.discord_endpoints import configure_endpoints
from cohortlab.localdiscord import Cohort, LocalDiscordServer


@pytest.fixture
async def server() -> AsyncIterator[LocalDiscordServer]:
    async with LocalDiscordServer(heartbeat_interval_ms=2_000) as srv:
        configure_endpoints(srv.api_base, srv.gateway_url)
        yield srv
        assert srv.internal_errors == []


@pytest.fixture
async def cohort(server: LocalDiscordServer) -> Cohort:
    return await server.script.build_cohort(
        modules=["MATH70095", "MATH70096"],
        tutors=["tutor"],
        students=["alice", "bob"],
    )


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    return intents


@contextlib.asynccontextmanager
async def running(
    client: discord.Client, server: LocalDiscordServer, *, ready_within: float = 10.0
) -> AsyncIterator[discord.Client]:
    """Run ``client`` against ``server`` until the block ends; fail fast if it dies."""
    task = asyncio.create_task(client.start(server.token))
    ready = asyncio.create_task(client.wait_until_ready())
    done, _ = await asyncio.wait(
        {task, ready}, timeout=ready_within, return_when=asyncio.FIRST_COMPLETED
    )
    if ready not in done:
        ready.cancel()
        if task in done:
            task.result()
        task.cancel()
        raise AssertionError("discord.py client did not become ready")
    try:
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=5)

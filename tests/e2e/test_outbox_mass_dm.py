"""Many DMs due at once go out concurrently, at the platform's rate, each once.

discord.py's own client over the chat adapter, against the local Discord server with a delay on
every REST request: sent one at a time, N first-time DMs cost 2N request times; the outbox
keeps up to 50 in flight, so the wall time is a small fraction of that. Sent again to the same
people, a DM costs one request (the DM channel is stored). Paced to Discord's 50 requests per
second, a mass send never runs over the limit and tells each person once, 429s or not (its
throughput and 429s out of process are measured in ``bench/bench_notices.py``).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import discord
import pytest
from sqlalchemy import select

from bot import outbox
from bot.chat import RateLimits
from bot.db.engine import Database
from bot.db.models import Cohort, Designation, Module, OutboxMessage, OutboxState, Person
from bot.discord_chat import DiscordChat
from bot.discord_endpoints import configure_endpoints
from bot.outbox import Message, Outbox
from cohortlab.localdiscord import LocalDiscordServer
from cohortlab.localdiscord.ratelimit import BucketRule, RateLimiter
from tests.localdiscord.conftest import default_intents, running

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATENCY = 0.05


@contextlib.asynccontextmanager
async def _server(limiter: RateLimiter) -> AsyncIterator[LocalDiscordServer]:
    async with LocalDiscordServer(heartbeat_interval_ms=2_000, ratelimiter=limiter) as server:
        configure_endpoints(server.api_base, server.gateway_url)
        server.rest.latency = LATENCY
        yield server


async def _people(db: Database, server: LocalDiscordServer, n: int) -> list[int]:
    actors = [server.script.add_user(f"student{i:04d}") for i in range(n)]
    async with db.session() as s:
        cohort = Cohort(code="C", name="Cohort")
        s.add(cohort)
        await s.flush()
        s.add(
            Module(
                cohort_id=cohort.id,
                code="M1",
                title="M",
                term="Spring",
                ects=Decimal(5),
                designation=Designation.CORE,
            )
        )
        people = [
            Person(display_name=f"Student {i}", platform_user_id=str(a.id))
            for i, a in enumerate(actors)
        ]
        s.add_all(people)
        await s.flush()
        return [p.id for p in people]


async def _enqueue(db: Database, people: list[int], tag: str) -> None:
    async with db.session() as s:
        await outbox.enqueue(
            s,
            [
                Message(
                    key=f"{tag}:{p}", feature="test", kind="dm", text=f"{tag} for you", person_id=p
                )
                for p in people
            ],
            NOW,
        )


def _dm_calls(server: LocalDiscordServer) -> Counter[str]:
    return Counter(
        "open" if c.path == "/users/@me/channels" else "post"
        for c in server.rest.calls
        if c.method == "POST" and (c.path == "/users/@me/channels" or c.path.endswith("/messages"))
    )


async def _send(
    db: Database, server: LocalDiscordServer, limits: RateLimits | None = None
) -> float:
    client = discord.Client(intents=default_intents())
    async with running(client, server):
        sender = Outbox(db, DiscordChat(client), clock=lambda: NOW, limits=limits)
        started = time.monotonic()
        report = await sender.run(NOW)
        elapsed = time.monotonic() - started
    async with db.session() as s:
        states = Counter((await s.execute(select(OutboxMessage.state))).scalars())
    assert states[OutboxState.PENDING] == states[OutboxState.CLAIMED] == 0, states
    assert report.failed == 0
    return elapsed


async def test_dms_due_at_once_are_sent_concurrently_once_each_and_cheaper_when_known(
    db: Database,
) -> None:
    n = 300
    # No rate limit here: what is measured is concurrency against the request delay.
    unlimited = RateLimiter(default=BucketRule(limit=10_000, window=1.0), global_limit=None)
    async with _server(unlimited) as server:
        people = await _people(db, server, n)
        await _enqueue(db, people, "first")
        first = await _send(db, server)
        assert _dm_calls(server) == {"open": n, "post": n}
        sequential = 2 * n * LATENCY
        print(
            f"{n} first-time DMs, {LATENCY * 1000:.0f} ms per request: {first:.2f} s "
            f"(one at a time: {sequential:.0f} s)"
        )
        assert first < sequential / 4, (first, sequential)

        server.rest.calls.clear()
        await _enqueue(db, people, "second")
        second = await _send(db, server)
        assert _dm_calls(server) == {"post": n}  # a known DM channel: one request
        print(f"{n} DMs to known channels: {second:.2f} s (one at a time: {n * LATENCY:.0f} s)")
        assert second < n * LATENCY / 4, (second, n * LATENCY)
        for user in server.state.users.values():
            if user.username.startswith("student"):
                texts = [m.content.splitlines()[0] for m in server.script.actor(user.id).dms()]
                assert texts == ["first for you", "second for you"]


async def test_a_mass_send_keeps_to_the_rate_limit_without_429s(db: Database) -> None:
    n = 200
    async with _server(RateLimiter()) as server:  # 50 requests per second, like Discord's
        people = await _people(db, server, n)
        await _enqueue(db, people, "warm")  # from now on their DM channels are known
        await _send(db, server, DiscordChat.rate_limits)
        server.rest.calls.clear()
        await _enqueue(db, people, "notice")
        elapsed = await _send(db, server, DiscordChat.rate_limits)
        limited = [c for c in server.rest.calls if c.status == 429]
        rate = n / elapsed
        print(f"{n} DMs paced to 50 requests/s: {elapsed:.2f} s, {rate:.1f}/s, {len(limited)} 429s")
        # Never over the limit, and each person told once (``_send``: nothing pending, claimed
        # or failed), 429s or not. Whether any 429 happens depends on when requests reach the
        # server: here it shares one event loop with the bot on a busy test machine, so a stall
        # delivers a second's requests together. The pacer's own guarantee is unit-tested
        # (tests/unit/test_pacer.py); 429s out of process are counted by bench_notices.
        assert rate <= 50, rate
        posted = [
            c
            for c in server.rest.calls
            if c.method == "POST" and c.status == 200 and c.path.endswith("/messages")
        ]
        assert len(posted) == n, (len(posted), n)

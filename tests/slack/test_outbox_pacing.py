"""The outbox paces Slack sends per channel, as Slack limits them: DMs to different people (each
a channel of its own) go out in parallel, several a second, while no one channel gets more
than the local server's per-channel limit lets through, and nothing is refused with a 429."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot import outbox
from bot.db.engine import Database
from bot.db.models import OutboxMessage, OutboxState, Person
from bot.outbox import Message, Outbox
from cohortlab.localslack import LocalSlackServer
from slackapp.chat import SlackChat, build_client

pytestmark = pytest.mark.e2e

NOW = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)
PEOPLE = 30
#: The first few get several DMs at once, more than one channel may take in a second.
BUSY, EACH = 3, 4


@pytest.fixture
async def server() -> AsyncIterator[LocalSlackServer]:
    async with LocalSlackServer(team_id="T0COHORT") as srv:
        srv.rate_limits = True  # Slack's tiers and chat.postMessage's per-channel limit
        yield srv
        assert srv.internal_errors == []


def _busiest(times: list[float], seconds: float) -> int:
    """The most of ``times`` in any window of ``seconds`` (each window starting at a time)."""
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered[i:] if t - start < seconds) for i, start in enumerate(ordered)),
        default=0,
    )


async def test_mass_dms_go_out_per_channel_without_a_429(
    db: Database, server: LocalSlackServer
) -> None:
    users = [server.script.add_user(f"student{i:02d}").id for i in range(PEOPLE)]
    async with db.session() as s:
        people = [
            Person(display_name=f"Student {i}", platform_user_id=u) for i, u in enumerate(users)
        ]
        s.add_all(people)
        await s.flush()
        ids = [p.id for p in people]
        messages = [
            Message(key=f"n{k}:{p}", feature="test", kind="dm", text=f"notice {k}", person_id=p)
            for k in range(EACH)
            for p in (ids if k == 0 else ids[:BUSY])
        ]
        await outbox.enqueue(s, messages, NOW)
    client = build_client(server.bot_token, server.api_base)
    try:
        report = await Outbox(
            db, SlackChat(client), clock=lambda: NOW, limits=SlackChat.rate_limits
        ).run(NOW)
    finally:
        if client.session is not None:
            await client.session.close()

    assert report.sent == len(messages) and report.failed == 0
    async with db.session() as s:
        states = set((await s.execute(select(OutboxMessage.state))).scalars())
    assert states == {OutboxState.SENT}
    for i, user in enumerate(users):
        texts = [m.text.splitlines()[0] for m in server.script.actor(user).dms()]
        assert texts == [f"notice {k}" for k in range(EACH if i < BUSY else 1)]

    calls = server.calls
    assert [c.method for c in calls if c.status == 429] == []
    posts = [c for c in calls if c.method == "chat.postMessage"]
    per_channel: dict[str, list[float]] = defaultdict(list)
    for call in posts:
        per_channel[str(call.args["channel"])].append(call.at)
    # Never more in one channel than Slack's "one a second, short bursts" lets through...
    window = server.ratelimiter.window_for("chat.postMessage")
    assert window is not None
    assert max(_busiest(t, window.seconds) for t in per_channel.values()) <= window.limit
    # ...while the workspace as a whole sends several a second: a pace of 1.67 requests a
    # second for the whole bot would never put three posts in one second.
    assert _busiest([c.at for c in posts], 1.0) >= 3

"""Bad days on Discord: dropped gateways, RECONNECT, INVALID_SESSION, 5xx, 429, unknown routes."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import discord
import pytest

from bot.discord_endpoints import configure_endpoints
from cohortlab.localdiscord import BucketRule, Cohort, LocalDiscordServer, RateLimiter
from tests.localdiscord.conftest import default_intents, running

pytestmark = pytest.mark.e2e


class Recorder(discord.Client):
    """A client that counts every message it is dispatched, to prove none is lost or doubled."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(intents=default_intents(), guild_ready_timeout=0.1, **kwargs)  # type: ignore[arg-type]
        self.contents: list[str] = []
        self.ready_count = 0

    async def on_message(self, message: discord.Message) -> None:
        self.contents.append(message.content)

    async def on_ready(self) -> None:
        self.ready_count += 1

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every re-IDENTIFY; the tests need not wait."""


async def _post_burst(cohort: Cohort, prefix: str, n: int) -> list[str]:
    texts = [f"{prefix} {i}" for i in range(n)]
    for text in texts:
        await cohort.student.post(cohort.general, text)
    return texts


async def _all_seen(server: LocalDiscordServer, client: Recorder, texts: list[str]) -> None:
    await server.script.wait_for(
        lambda: all(t in client.contents for t in texts), what=f"all of {texts[:2]}..."
    )


@pytest.mark.parametrize("code", [4000, None], ids=["close-4000", "abrupt"])
async def test_dropped_connection_resumes_and_replays_missed_events(
    server: LocalDiscordServer, cohort: Cohort, code: int | None
) -> None:
    client = Recorder()
    async with running(client, server):
        before = await _post_burst(cohort, "before", 3)
        await _all_seen(server, client, before)
        await server.gateway.drop(code=code)
        during = await _post_burst(cohort, "during", 5)
        await _all_seen(server, client, during)
        after = await _post_burst(cohort, "after", 2)
        await _all_seen(server, client, after)
        assert client.contents == before + during + after
        assert server.gateway.count("resume") == 1
        assert server.gateway.count("identify") == 1
        resume = next(r for r in server.gateway.records if r.kind == "resume")
        assert resume.detail["replayed"] >= 1


async def test_reconnect_opcode_makes_the_client_resume(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = Recorder()
    async with running(client, server):
        assert server.gateway.send_reconnect() == 1
        texts = await _post_burst(cohort, "after reconnect", 3)
        await _all_seen(server, client, texts)
        await server.script.wait_for(lambda: server.gateway.count("resume") == 1, what="RESUME")
        assert client.contents == texts and server.gateway.count("identify") == 1


async def test_invalid_session_not_resumable_forces_a_new_identify(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = Recorder()
    async with running(client, server):
        server.gateway.invalidate(resumable=False)
        await server.script.wait_for(
            lambda: client.ready_count == 2,
            what=f"second READY; gateway saw {[r.kind for r in server.gateway.records]}",
        )
        assert server.gateway.count("identify") == 2 and server.gateway.count("resume") == 0
        texts = await _post_burst(cohort, "new session", 2)
        await _all_seen(server, client, texts)
        assert client.get_guild(cohort.guild.id) is not None


async def test_invalid_session_resumable_resumes(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    client = Recorder()
    async with running(client, server):
        server.gateway.invalidate(resumable=True)
        texts = await _post_burst(cohort, "kept session", 2)
        await _all_seen(server, client, texts)
        await server.script.wait_for(lambda: server.gateway.count("resume") == 1, what="RESUME")
        assert server.gateway.count("identify") == 1 and client.contents == texts


async def test_unanswered_heartbeats_make_the_client_reconnect(
    cohort: Cohort, server: LocalDiscordServer
) -> None:
    server.gateway.heartbeat_interval_ms = 200
    client = Recorder(heartbeat_timeout=0.5)
    async with running(client, server):
        server.gateway.ack_heartbeats = False
        await server.script.wait_for(
            lambda: server.gateway.count("disconnect") >= 1, what="zombie detection"
        )
        server.gateway.ack_heartbeats = True
        server.gateway.heartbeat_interval_ms = 41_250  # the resumed connection beats slowly
        texts = await _post_burst(cohort, "after zombie", 2)
        await _all_seen(server, client, texts)
        assert server.gateway.count("resume") >= 1


async def test_server_error_is_retried_until_success(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    server.fail_route("/channels/{channel_id}/messages", status=502, times=1, method="POST")
    client = Recorder()
    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("posted despite a 502")
        statuses = [c.status for c in server.calls_to("/channels/{channel_id}/messages", "POST")]
        assert statuses == [502, 200]
        assert [m.content for m in server.script.messages(cohort.general)] == [
            "posted despite a 502"
        ]


async def test_429_retry_after_is_respected(server: LocalDiscordServer, cohort: Cohort) -> None:
    server.throttle_route("/channels/{channel_id}/messages", retry_after=0.3, method="POST")
    client = Recorder()
    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("after the throttle")
        first, second = server.calls_to("/channels/{channel_id}/messages", "POST")
        assert (first.status, second.status) == (429, 200)
        assert (second.at - first.at).total_seconds() >= 0.3


async def test_route_bucket_headers_pace_the_client_without_429s() -> None:
    limiter = RateLimiter(
        rules={"POST /channels/{channel_id}/messages": BucketRule(limit=2, window=0.4)}
    )
    async with LocalDiscordServer(ratelimiter=limiter) as server:
        configure_endpoints(server.api_base, server.gateway_url)
        local = await server.script.build_cohort()
        client = Recorder()
        async with running(client, server):
            channel = client.get_channel(local.general.id)
            assert isinstance(channel, discord.TextChannel)
            for i in range(5):
                await channel.send(f"paced {i}")
            calls = server.calls_to("/channels/{channel_id}/messages", "POST")
            assert [c.status for c in calls] == [200] * 5
            assert (calls[2].at - calls[0].at).total_seconds() >= 0.3


async def test_global_limit_answers_429_global_and_the_client_recovers() -> None:
    async with LocalDiscordServer() as server:
        configure_endpoints(server.api_base, server.gateway_url)
        local = await server.script.build_cohort(modules=["A1", "A2", "A3", "A4", "A5", "A6"])
        client = Recorder()
        async with running(client, server):
            server.ratelimiter.global_limit = 4  # six concurrent sends must overflow it
            sends = []
            for ch in local.modules.values():
                channel = client.get_channel(ch.id)
                assert isinstance(channel, discord.TextChannel)
                sends.append(channel.send("burst"))
            await asyncio.gather(*sends)
            statuses = [c.status for c in server.calls_to("/channels/{channel_id}/messages")]
            assert 429 in statuses and statuses.count(200) == 6
            limited = next(c for c in server.calls if c.status == 429)
            assert limited.response["global"] is True


async def test_unknown_route_is_recorded(server: LocalDiscordServer, cohort: Cohort) -> None:
    client = Recorder()
    async with running(client, server):
        with pytest.raises(discord.NotFound):
            await client.http.request(
                discord.http.Route(
                    "GET", "/guilds/{guild_id}/widget.json", guild_id=cohort.guild.id
                )
            )
        assert server.unknown_routes == [("GET", f"/guilds/{cohort.guild.id}/widget.json")]


async def test_bad_token_fails_login_and_identify(server: LocalDiscordServer) -> None:
    client = discord.Client(intents=default_intents())
    with pytest.raises(discord.LoginFailure):
        await client.start("not-the-token")
    await client.close()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(server.gateway_url + "?v=10&encoding=json") as ws,
    ):
        hello = json.loads((await ws.receive()).data)
        assert hello["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 513, "properties": {}}})
        closing = await ws.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4004


async def test_delayed_responses_slow_the_bot_but_succeed(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    server.delay_route("/channels/{channel_id}/messages", 0.3, method="POST", times=1)
    client = Recorder()
    async with running(client, server):
        channel = client.get_channel(cohort.general.id)
        assert isinstance(channel, discord.TextChannel)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await channel.send("slow but sure")
        assert loop.time() - started >= 0.3
        assert [m.content for m in server.script.messages(cohort.general)] == ["slow but sure"]

"""Socket Mode with slack_sdk's own client: hello, envelopes, acks, redelivery, reconnects."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from cohortlab.localslack import LocalSlackServer
from tests.localslack.conftest import socket_app

pytestmark = pytest.mark.e2e


async def test_hello_then_a_message_event_for_a_channel_the_bot_is_in(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice", email="alice@uni.ac.uk")
    chan = server.script.add_channel("math70097", members=[alice])
    elsewhere = server.script.add_channel("random", members=[alice], bot=False)
    async with socket_app(server, web) as app:
        await alice.post(elsewhere, "not for the bot")
        ts = await alice.post(chan, "my answer")
        await server.script.wait_for(lambda: app.events("message"), what="message event")
        await server.script.wait_acked()
        [event] = app.events("message")
        assert event["text"] == "my answer" and event["ts"] == ts
        assert event["channel"] == chan.id and event["user"] == alice.id
        assert event["channel_type"] == "channel"
        [request] = app.requests
        assert request.retry_attempt == 0 and request.payload["team_id"] == "T0COHORT"
        assert server.socket.count("hello") == 1


async def test_an_event_not_acked_comes_again_with_the_next_retry_attempt(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    async with socket_app(server, web) as app:
        seen: list[int] = []

        def first_time_silent(req: object) -> object:
            seen.append(getattr(req, "retry_attempt", 0) or 0)
            return "skip" if len(seen) == 1 else None

        app.answers["events_api"] = first_time_silent
        await alice.post(chan, "hello")
        await server.script.wait_acked()
        assert seen == [0, 1]
        [delivery] = server.deliveries
        assert [a.outcome for a in delivery.attempts] == ["timeout", "acked"]
        assert {r.envelope_id for r in app.requests} == {delivery.envelope_id}
        assert app.requests[1].retry_reason == "timeout"


async def test_an_acked_event_can_be_redelivered_on_purpose(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    server.socket.redeliver_acked = 1
    async with socket_app(server, web) as app:
        await alice.post(chan, "answer")
        await server.script.wait_for(lambda: len(app.requests) == 2, what="the redelivery")
        first, second = app.requests
        assert first.envelope_id == second.envelope_id
        assert first.payload["event_id"] == second.payload["event_id"]
        assert second.retry_attempt == 1


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_disconnect_makes_the_client_reconnect_and_events_keep_coming(
    server: LocalSlackServer, web: AsyncWebClient, reason: str
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    async with socket_app(server, web) as app:
        assert await server.socket.send_disconnect(reason) == 1
        await server.script.wait_for(lambda: app.hellos >= 2, what="a second hello")
        await alice.post(chan, "after the refresh")
        await server.script.wait_for(lambda: app.events("message"), what="event")
        assert server.socket.count("connect") == 2
        assert len(server.calls_to("apps.connections.open")) == 2


async def test_a_dropped_socket_reconnects_and_the_pending_event_arrives(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    async with socket_app(server, web) as app:
        await server.socket.drop()
        await alice.post(chan, "while away")
        await server.script.wait_for(lambda: app.events("message"), what="event", timeout=10)
        await server.script.wait_acked(timeout=10)
        assert [e["text"] for e in app.events("message")][-1] == "while away"


async def test_slash_command_ack_payload_is_the_ephemeral_reply(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    async with socket_app(server, web) as app:
        app.answers["slash_commands"] = {"text": "Prompt created."}
        result = await alice.slash(
            "/prompt", 'create module:MATH70097 title:"Week 1"', channel=chan
        )
        assert result.ack == {"text": "Prompt created."}
        eph = await result.wait_ephemeral(contains="created")
        assert eph.channel == chan.id and eph.user == alice.id
        [req] = [r for r in app.requests if r.type == "slash_commands"]
        assert req.payload["command"] == "/prompt"
        assert req.payload["text"] == 'create module:MATH70097 title:"Week 1"'
        assert req.accepts_response_payload is True
        assert server.script.messages(chan) == []


async def test_a_slash_command_not_acked_times_out_without_retry(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    async with socket_app(server, web) as app:
        app.answers["slash_commands"] = "skip"
        result = await alice.slash("/marks")
        assert result.timed_out and result.ack is None
        assert len(app.requests) == 1


async def test_a_post_its_edit_and_its_deletion_leave_in_that_order(
    server: LocalSlackServer, web: AsyncWebClient
) -> None:
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    async with socket_app(server, web) as app:
        for i in range(20):
            ts = await alice.post(chan, f"draft {i}")
            await alice.edit(chan, ts, f"final {i}")
            await alice.delete(chan, ts)
        await server.script.wait_acked()
        by_id = {d.envelope_id: d.payload["event"] for d in server.deliveries}
        sent = [r.detail["envelope_id"] for r in server.socket.records if r.kind == "send"]
        kinds = [by_id[e].get("subtype") or "post" for e in sent]
        assert kinds == ["post", "message_changed", "message_deleted"] * 20
        assert len(app.events("message")) == 60

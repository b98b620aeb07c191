"""HTTP mode: signed POSTs to the app's URL, url_verification, retries with Slack's headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from cohortlab.localslack import LocalSlackServer

pytestmark = pytest.mark.e2e


@dataclass
class Receiver:
    """A tiny app endpoint: checks the signature, answers as told, keeps what came."""

    secret: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    #: Answers to give in turn: an HTTP status, "slow" (past Slack's 3 s), or a JSON body.
    script: list[Any] = field(default_factory=list)
    slow_for: float = 1.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verified = SignatureVerifier(self.secret).is_valid_request(body, dict(request.headers))
        ctype = request.content_type
        if ctype == "application/json":
            parsed: Any = json.loads(body)
        else:
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            parsed = json.loads(form["payload"]) if "payload" in form else form
        self.seen.append(
            {
                "verified": verified,
                "retry_num": request.headers.get("X-Slack-Retry-Num"),
                "retry_reason": request.headers.get("X-Slack-Retry-Reason"),
                "content_type": ctype,
                "body": parsed,
            }
        )
        if not verified:
            return web.Response(status=401)
        if isinstance(parsed, dict) and parsed.get("type") == "url_verification":
            return web.json_response({"challenge": parsed["challenge"]})
        answer = self.script.pop(0) if self.script else None
        if answer == "slow":
            await asyncio.sleep(self.slow_for)
            return web.Response(status=200)
        if isinstance(answer, int):
            return web.Response(status=answer)
        if isinstance(answer, dict):
            return web.json_response(answer)
        return web.Response(status=200)


@pytest.fixture
async def http_server() -> AsyncIterator[tuple[LocalSlackServer, Receiver]]:
    async with LocalSlackServer(mode="http") as srv:
        receiver = Receiver(srv.signing_secret)
        app = web.Application()
        app.router.add_post("/slack/events", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        srv.events_url = f"http://127.0.0.1:{port}/slack/events"
        srv.http.timeout = 0.3
        srv.http.retry_delays = (0.0, 0.0, 0.0)
        try:
            yield srv, receiver
        finally:
            await runner.cleanup()
        assert srv.internal_errors == []


async def test_url_verification_and_a_signed_event(
    http_server: tuple[LocalSlackServer, Receiver],
) -> None:
    server, app = http_server
    assert await server.verify_events_url()
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    ts = await alice.post(chan, "my answer")
    await server.script.wait_acked()
    event = app.seen[-1]
    assert event["verified"] and event["retry_num"] is None
    assert event["content_type"] == "application/json"
    assert event["body"]["type"] == "event_callback"
    assert event["body"]["event"]["ts"] == ts


async def test_a_wrong_secret_is_refused_by_the_app(
    http_server: tuple[LocalSlackServer, Receiver],
) -> None:
    server, app = http_server
    server.http.wrong_secret = "not-the-secret"
    server.http.max_retries = 0
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    await alice.post(chan, "forged?")
    await server.script.wait_acked()
    assert [s["verified"] for s in app.seen] == [False]
    assert server.deliveries[-1].timed_out


async def test_an_event_answered_500_then_too_slowly_is_retried_with_slacks_headers(
    http_server: tuple[LocalSlackServer, Receiver],
) -> None:
    server, app = http_server
    app.script = [500, "slow", None]
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    await alice.post(chan, "once only please")
    await server.script.wait_acked(timeout=10)
    retries = [(s["retry_num"], s["retry_reason"]) for s in app.seen]
    assert retries == [(None, None), ("1", "http_error"), ("2", "http_timeout")]
    event_ids = {s["body"]["event_id"] for s in app.seen}
    assert len(event_ids) == 1  # the same event, for the app to record once
    [delivery] = server.deliveries
    assert delivery.acked and [a.outcome for a in delivery.attempts][:2] == ["http_500", "timeout"]


async def test_slash_command_is_a_form_and_its_answer_is_the_reply(
    http_server: tuple[LocalSlackServer, Receiver],
) -> None:
    server, app = http_server
    app.script = [{"response_type": "ephemeral", "text": "Week 1 created."}]
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    result = await alice.slash("/prompt", 'create title:"Week 1"', channel=chan)
    [got] = app.seen
    assert got["verified"] and got["content_type"] == "application/x-www-form-urlencoded"
    assert got["body"]["command"] == "/prompt" and got["body"]["user_id"] == alice.id
    assert got["body"]["text"] == 'create title:"Week 1"'
    assert result.ack == {"response_type": "ephemeral", "text": "Week 1 created."}
    assert [e.text for e in result.ephemerals] == ["Week 1 created."]


async def test_a_click_is_a_payload_form_and_is_not_retried(
    http_server: tuple[LocalSlackServer, Receiver],
) -> None:
    server, app = http_server
    app.script = [500]
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("tutorials", members=[alice])
    blocks = [
        {
            "type": "actions",
            "block_id": "rsvp",
            "elements": [
                {
                    "type": "button",
                    "action_id": "going",
                    "value": "tut-3",
                    "text": {"type": "plain_text", "text": "Going"},
                }
            ],
        }
    ]
    server.deliver_own_messages = False
    msg = server.script.bot_post(chan, "Tutorial 3", blocks=blocks)
    result = await alice.click(msg, "going")
    assert result.timed_out and len(app.seen) == 1
    payload = app.seen[0]["body"]
    assert payload["type"] == "block_actions" and payload["actions"][0]["value"] == "tut-3"
    assert payload["user"]["id"] == alice.id and payload["message"]["ts"] == msg.ts


async def test_an_answered_event_can_be_sent_again_on_purpose(
    http_server: tuple[LocalSlackServer, Receiver],
) -> None:
    server, app = http_server
    server.http.redeliver_acked = 1
    alice = server.script.add_user("alice")
    chan = server.script.add_channel("math70097", members=[alice])
    await alice.post(chan, "answer")
    await server.script.wait_for(lambda: len(app.seen) == 2, what="the repeat")
    first, second = app.seen
    assert first["body"]["event_id"] == second["body"]["event_id"]
    assert (second["retry_num"], second["retry_reason"]) == ("1", "http_timeout")
    assert first["retry_num"] is None

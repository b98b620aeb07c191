"""slack-bolt's AsyncApp, unchanged, against the local server in Socket Mode and HTTP mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from cohortlab.localslack import LocalSlackServer

pytestmark = pytest.mark.e2e

MODAL = {
    "type": "modal",
    "callback_id": "create_prompt",
    "title": {"type": "plain_text", "text": "New prompt"},
    "submit": {"type": "plain_text", "text": "Create"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


def build_app(server: LocalSlackServer, client: AsyncWebClient) -> tuple[AsyncApp, list[str]]:
    app = AsyncApp(
        client=client, signing_secret=server.signing_secret, process_before_response=True
    )
    heard: list[str] = []

    @app.command("/prompt")
    async def prompt(ack: Any, command: dict[str, Any], respond: Any, client: Any) -> None:
        if not command["text"].strip():
            await ack()
            await client.views_open(trigger_id=command["trigger_id"], view=MODAL)
            return
        await ack(f"Working on {command['text']}")
        await respond("Prompt created.")

    @app.view("create_prompt")
    async def create(ack: Any, view: dict[str, Any], client: Any, body: dict[str, Any]) -> None:
        title = view["state"]["values"]["title"]["value"]["value"]
        if not title:
            await ack(response_action="errors", errors={"title": "Give it a title."})
            return
        await ack()
        await client.chat_postMessage(channel=body["user"]["id"], text=f"Created {title}")

    @app.event("message")
    async def message(event: dict[str, Any]) -> None:
        heard.append(event.get("text", ""))

    return app, heard


@pytest.fixture
async def server() -> AsyncIterator[LocalSlackServer]:
    async with LocalSlackServer() as srv:
        yield srv
        assert srv.internal_errors == []


async def test_bolt_in_socket_mode_answers_a_command_a_modal_and_hears_messages(
    server: LocalSlackServer,
) -> None:
    client = AsyncWebClient(token=server.bot_token, base_url=server.api_base)
    app, heard = build_app(server, client)
    handler = AsyncSocketModeHandler(app, server.app_token, web_client=client)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        alice = server.script.add_user("alice")
        chan = server.script.add_channel("math70097", members=[alice])
        result = await alice.slash("/prompt", "create Week 1", channel=chan)
        assert result.ack == {"text": "Working on create Week 1"}
        await result.wait_ephemeral(contains="Prompt created.")
        opened = await alice.slash("/prompt", channel=chan)
        assert opened.acked
        await server.script.wait_for(lambda: alice.open_views, what="the modal")
        refused = await alice.submit(values={"title": {"value": ""}})
        assert refused.errors == {"title": "Give it a title."}
        done = await alice.submit(values={"title": {"value": "Week 2"}})
        assert done.closed
        await alice.wait_dm(contains="Created Week 2")
        await alice.post(chan, "hello bolt")
        await server.script.wait_for(lambda: "hello bolt" in heard, what="bolt heard it")
        assert "Created Week 2" not in heard  # bolt ignores its own bot's messages
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        if client.session is not None:
            await client.session.close()


async def test_bolt_in_http_mode_verifies_signatures_and_answers(
    server: LocalSlackServer,
) -> None:
    client = AsyncWebClient(token=server.bot_token, base_url=server.api_base)
    app, heard = build_app(server, client)
    server.mode = "http"
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.events_url = f"http://127.0.0.1:{port}/slack/events"
    try:
        assert await server.verify_events_url()
        alice = server.script.add_user("alice")
        chan = server.script.add_channel("math70097", members=[alice])
        result = await alice.slash("/prompt", "create Week 1", channel=chan)
        assert result.ack == {"text": "Working on create Week 1"}
        await result.wait_ephemeral(contains="Prompt created.")
        await alice.post(chan, "over http")
        await server.script.wait_for(lambda: "over http" in heard, what="bolt heard it")
        server.http.wrong_secret = "forged"
        server.http.max_retries = 0
        forged = await alice.slash("/prompt", "create Week 9", channel=chan)
        assert forged.timed_out and server.http.records[-1].status == 401
    finally:
        await runner.cleanup()
        if client.session is not None:
            await client.session.close()

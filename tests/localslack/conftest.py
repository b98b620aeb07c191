"""Fixtures: a fresh local Slack server per test, slack_sdk's clients pointed at it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from cohortlab.localslack import LocalSlackServer


@pytest.fixture
async def server() -> AsyncIterator[LocalSlackServer]:
    async with LocalSlackServer(team_id="T0COHORT") as srv:
        srv.socket.ack_timeout = 0.5
        yield srv
        assert srv.internal_errors == []
        assert srv.unknown_routes == []


@pytest.fixture
async def web(server: LocalSlackServer) -> AsyncIterator[AsyncWebClient]:
    client = AsyncWebClient(token=server.bot_token, base_url=server.api_base)
    yield client
    if client.session is not None:
        await client.session.close()


class App:
    """A tiny Socket Mode app: records every request and acks as told."""

    def __init__(self, server: LocalSlackServer, web: AsyncWebClient) -> None:
        self.server = server
        self.web = web
        self.client = SocketModeClient(
            app_token=server.app_token, web_client=web, ping_interval=1, auto_reconnect_enabled=True
        )
        self.requests: list[SocketModeRequest] = []
        self.hellos = 0
        #: Ack payload per request type (None: empty ack); "skip": never ack.
        self.answers: dict[str, Any] = {}
        self.client.socket_mode_request_listeners.append(self._on_request)  # type: ignore[arg-type]
        self.client.message_listeners.append(self._on_message)

    async def _on_message(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        if message.get("type") == "hello":
            self.hellos += 1

    async def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        self.requests.append(req)
        answer = self.answers.get(req.type)
        if callable(answer):
            answer = answer(req)
        if answer == "skip":
            return
        await client.send_socket_mode_response(SocketModeResponse(req.envelope_id, answer))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = [r.payload["event"] for r in self.requests if r.type == "events_api"]
        return [e for e in out if kind is None or e.get("type") == kind]


@contextlib.asynccontextmanager
async def socket_app(server: LocalSlackServer, web: AsyncWebClient) -> AsyncIterator[App]:
    app = App(server, web)
    await app.client.connect()  # type: ignore[no-untyped-call]
    await server.script.wait_for(lambda: app.hellos >= 1, what="hello")
    try:
        yield app
    finally:
        await app.client.close()  # type: ignore[no-untyped-call]
        await asyncio.sleep(0)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)

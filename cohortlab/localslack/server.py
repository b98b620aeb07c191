"""The local Slack-compatible server: one aiohttp app for the Web API, Socket Mode's
websocket, file uploads and downloads, and ``response_url``; events go to the app by
Socket Mode (default) or signed HTTP POSTs (``mode = "http"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from cohortlab.localslack.delivery import COMMANDS, EVENTS, INTERACTIVE, Delivery
from cohortlab.localslack.faults import FaultPlan
from cohortlab.localslack.httpmode import HttpDeliverer
from cohortlab.localslack.interactions import Interactions, ResponseTarget
from cohortlab.localslack.models import SlackError
from cohortlab.localslack.ratelimit import SlackRateLimiter
from cohortlab.localslack.socketmode import SocketModeHub
from cohortlab.localslack.state import SlackState
from cohortlab.localslack.webapi import ApiCall, WebApi

log = logging.getLogger(__name__)

T = TypeVar("T")


class LocalSlackServer:
    """A Slack workspace on 127.0.0.1 for end-to-end tests and the demo.

    ``latency`` delays every Web API answer (a demo that should feel like the network).
    ``mode`` is "socket" (default) or "http" (events POSTed to ``events_url``).
    """

    def __init__(
        self,
        *,
        team_id: str = "T0COHORT",
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "socket",
        bot_token: str | None = None,
        app_token: str | None = None,
        signing_secret: str | None = None,
    ) -> None:
        # Imported here: scripting imports this module's type for its annotations.
        from cohortlab.localslack.scripting import Script

        self.host = host
        self.port = port
        self.latency = latency
        self.mode = mode
        self.app_id = "A0LOCALAPP"
        # Fresh secrets per server unless given (a bot process started with fixed env vars).
        self.bot_token = bot_token or "xoxb-local-" + secrets.token_hex(8)
        self.app_token = app_token or "xapp-1-local-" + secrets.token_hex(8)
        self.signing_secret = signing_secret or secrets.token_hex(16)
        self.verification_token = "local-verification-token"
        self.state = SlackState(team_id=team_id)
        self.faults = FaultPlan()
        self.ratelimiter = SlackRateLimiter()
        #: Web API rate limits on or off (off by default so tests stay quick).
        self.rate_limits = False
        #: Send the app the message events of its own posts, as Slack does.
        self.deliver_own_messages = True
        self.api = WebApi(self)
        self.interactions = Interactions(self)
        self.socket = SocketModeHub(
            app_id=self.app_id,
            url=lambda ticket: f"ws://{self.host}:{self.port}/socket?ticket={ticket}",
            on_change=self.notify,
            on_ack=self._acked,
        )
        self.http = HttpDeliverer(
            signing_secret=lambda: self.signing_secret,
            url_for=self._url_for,
            on_change=self.notify,
            on_ack=self._acked,
        )
        #: The app's request URLs in HTTP mode (one URL for everything, as Bolt serves).
        self.events_url = ""
        self.commands_url: str | None = None
        self.interactivity_url: str | None = None
        self.deliveries: list[Delivery] = []
        self.targets_by_delivery: dict[str, ResponseTarget] = {}
        self.script = Script(self)
        self.unknown_routes: list[tuple[str, str]] = []
        #: Called with every workspace event as it happens (a demo narrating live, say).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()

    # ------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def team_id(self) -> str:
        return self.state.team_id

    @property
    def bot_user_id(self) -> str:
        return self.state.bot.id

    @property
    def bot_id(self) -> str:
        return self.state.bot.bot_id or ""

    @property
    def calls(self) -> list[ApiCall]:
        return self.api.calls

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.api.calls if c.method == method]

    @property
    def internal_errors(self) -> list[str]:
        """Bugs of this server met while serving: should stay empty."""
        return self.api.internal_errors + self.socket.internal_errors

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._latency])
        app.router.add_post("/api/{method}", self.api.handle)
        app.router.add_get("/api/{method}", self.api.handle)
        app.router.add_get("/socket", self.socket.handle)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files/{file_id}/{name}", self._download)
        app.router.add_post("/respond/{target}", self.interactions.handle_response)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        self.state.file_base_url = self.base_url
        if not self.events_url:
            self.events_url = f"http://{self.host}:3000/slack/events"

    async def stop(self) -> None:
        await self.socket.close_all()
        await self.http.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalSlackServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @web.middleware
    async def _latency(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if self.latency and request.path.startswith("/api/"):
            await asyncio.sleep(self.latency)
        response: web.StreamResponse = await handler(request)
        return response

    async def _unknown(self, request: web.Request) -> web.Response:
        self.unknown_routes.append((request.method, request.path))
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    # ---------------------------------------------------------------- files

    async def _upload(self, request: web.Request) -> web.Response:
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field = form.get("file") or form.get("filename")
            if isinstance(field, web.FileField):
                content = field.file.read()
            else:
                content = str(field or "").encode()
        else:
            content = await request.read()
        try:
            self.state.receive_upload(request.match_info["file_id"], content)
        except SlackError:
            return web.Response(status=404, text="file not found")
        return web.Response(text=f"OK - {len(content)}")

    async def _download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {self.bot_token}":
            # Slack answers the login page, not the file, without the bot token.
            return web.Response(status=302, headers={"Location": "https://cohort.slack.local/"})
        try:
            f = self.state.file(request.match_info["file_id"])
        except SlackError:
            return web.Response(status=404, text="file not found")
        return web.Response(body=f.content, content_type=f.mimetype)

    # ------------------------------------------------------------- delivery

    def _url_for(self, kind: str) -> str:
        if kind == COMMANDS and self.commands_url:
            return self.commands_url
        if kind == INTERACTIVE and self.interactivity_url:
            return self.interactivity_url
        return self.events_url

    def deliver(self, kind: str, payload: dict[str, Any], *, retries: bool) -> Delivery:
        delivery = Delivery(type=kind, payload=payload, retries=retries)
        self.deliveries.append(delivery)
        if self.mode == "http":
            self.http.deliver(delivery)
        else:
            self.socket.deliver(delivery)
        return delivery

    def event_callback(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": self.state.new_id("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + self.state.new_id("ctx"),
        }

    def wants(self, event: dict[str, Any]) -> bool:
        """Slack sends the app events of conversations its bot user is in."""
        own = event.get("type") == "message" and event.get("user") == self.bot_user_id
        if own and not self.deliver_own_messages and not event.get("subtype"):
            return False
        channel = self.state.channels.get(str(event.get("channel", "")))
        return channel is None or self.bot_user_id in channel.members

    def commit(self) -> None:
        """Deliver the events of every change made since the last commit."""
        for event in self.state.drain():
            for listener in list(self.listeners):
                listener(event)
            if self.wants(event):
                self.deliver(EVENTS, self.event_callback(event), retries=True)
        self.notify()

    def _acked(self, delivery: Delivery) -> None:
        """A slash command's ack with text or blocks is the command's reply."""
        target = self.targets_by_delivery.get(delivery.envelope_id)
        payload = delivery.ack_payload
        says = bool(payload and (payload.get("text") or payload.get("blocks")))
        if delivery.type == COMMANDS and target is not None and payload and says:
            with contextlib.suppress(SlackError):
                self.interactions.apply(target, payload, source="ack")
            self.commit()

    # ---------------------------------------------------------------- modes

    async def verify_events_url(self) -> bool:
        """Send the ``url_verification`` challenge to ``events_url``; True if answered."""
        return await self.http.verify_url(self.events_url, self.verification_token)

    # --------------------------------------------------------------- waiting

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(
        self,
        check: Callable[[], T | None],
        *,
        timeout: float,  # noqa: ASYNC109
        describe: Callable[[], str],
    ) -> T:
        """Re-check after each change until ``check`` returns a value or the timeout passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result:  # None, False and an empty list all mean "not yet"
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(describe())
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, 0.25))

"""The local Discord-compatible server: one aiohttp app serving REST, gateway and files.

Start it, point discord.py at ``api_base`` and ``gateway_url`` (bot.discord_endpoints), and the
real client logs in, connects and runs against state a test controls through ``script``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from cohortlab.localdiscord.faults import FaultPlan, RouteFault
from cohortlab.localdiscord.gateway import GatewayHub
from cohortlab.localdiscord.models import BotApp
from cohortlab.localdiscord.ratelimit import RateLimiter
from cohortlab.localdiscord.rest import API_PREFIX, RestApi, RestCall, json_response
from cohortlab.localdiscord.scripting import Script
from cohortlab.localdiscord.state import DiscordState, Event

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TOKEN = "local-discord.bot-token.not-a-secret"


class LocalDiscordServer:
    """Discord API v10 subset on 127.0.0.1 for end-to-end tests and the demo."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        bot_name: str = "cohortbot",
        heartbeat_interval_ms: int = 41_250,
        ratelimiter: RateLimiter | None = None,
        interaction_deadline: float | None = 3.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state = DiscordState(interaction_deadline=interaction_deadline)
        if clock is not None:
            self.state.use_clock(clock)
        self.app: BotApp = self.state.add_app(bot_name, token)
        self.faults = FaultPlan()
        self.ratelimiter = ratelimiter or RateLimiter()
        self.rest = RestApi(self)
        self.gateway = GatewayHub(
            self.state,
            url=lambda: self.gateway_url,
            heartbeat_interval_ms=heartbeat_interval_ms,
            on_change=self.notify,
        )
        self.script = Script(self)
        #: Called with every state event as it is published (a demo narrating live, say).
        self.listeners: list[Callable[[Event], None]] = []
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()

    # ----------------------------------------------------------- addresses

    @property
    def token(self) -> str:
        return self.app.token

    @property
    def bot_user_id(self) -> int:
        return self.app.user_id

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self.rest.handle)
        app.router.add_get(
            "/attachments/{channel_id}/{attachment_id}/{filename}", self.rest.serve_attachment
        )
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        self.state.attachment_base_url = f"{self.base_url}/attachments"

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalDiscordServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _unknown(self, request: web.Request) -> web.Response:
        self.rest.unknown_routes.append((request.method, request.path))
        return json_response(404, {"message": "404: Not Found", "code": 0})

    # ------------------------------------------------------- state changes

    def commit(self) -> None:
        """Send the gateway events of every state change made since the last commit."""
        events = self.state.drain()
        if events:
            self.gateway.publish(events)
            for listener in list(self.listeners):
                for event in events:
                    listener(event)

    def notify(self) -> None:
        """Wake every waiter: something may now match what it is waiting for."""
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
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(describe())
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, 0.25))

    # --------------------------------------------------------------- faults

    def fail_route(
        self,
        pattern: str,
        *,
        status: int = 500,
        times: int | None = 1,
        method: str | None = None,
        after: int = 0,
    ) -> RouteFault:
        """Answer ``status`` on a route ``times`` times (None: until told otherwise), once
        ``after`` requests went through (discord.py retries 5xx after 1, 3, 5 s)."""
        return self.faults.add(
            RouteFault(pattern, method=method, status=status, times=times, after=after)
        )

    def throttle_route(
        self,
        pattern: str,
        *,
        retry_after: float = 0.05,
        times: int = 1,
        method: str | None = None,
        is_global: bool = False,
    ) -> RouteFault:
        """Answer 429 with ``retry_after`` on a route ``times`` times."""
        return self.faults.add(
            RouteFault(
                pattern,
                method=method,
                status=429,
                times=times,
                retry_after=retry_after,
                is_global=is_global,
            )
        )

    def delay_route(
        self, pattern: str, seconds: float, *, times: int | None = None, method: str | None = None
    ) -> RouteFault:
        """Answer normally on a route, but only after ``seconds``."""
        return self.faults.add(
            RouteFault(pattern, method=method, status=None, times=times, delay=seconds)
        )

    # ------------------------------------------------------------------ log

    @property
    def calls(self) -> list[RestCall]:
        return self.rest.calls

    @property
    def unknown_routes(self) -> list[tuple[str, str]]:
        return self.rest.unknown_routes

    @property
    def internal_errors(self) -> list[str]:
        """Bugs of this server met while serving (REST and gateway): should stay empty."""
        return self.rest.internal_errors + self.gateway.internal_errors

    def calls_to(self, route: str, method: str | None = None) -> list[RestCall]:
        """REST calls by route template (``/channels/{channel_id}/messages``) or exact path."""
        return [
            c
            for c in self.rest.calls
            if (c.route == route or c.path == route)
            and (method is None or c.method == method.upper())
        ]

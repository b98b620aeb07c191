"""The bot's web server: ``/healthz`` and ``/metrics``, calendar feeds, the tutor dashboard.

Health names the failing part (gateway, database, scheduler) so an orchestrator's probe log
says what is wrong, not just that something is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.db.engine import Database
from bot.metrics import Metrics
from bot.web.calendar_feed import add_calendar_routes
from bot.web.dashboard import DashboardSources, add_dashboard_routes, security_headers

DB_TIMEOUT_SECONDS = 3.0


@dataclass
class HealthSources:
    """Callables the web server asks; each part of the app registers its own."""

    database: Database
    metrics: Metrics
    gateway_connected: Callable[[], bool]
    scheduler_alive: Callable[[], bool]
    # The app's clock (the demo's is controllable); calendar feeds are built "as of" it.
    clock: Callable[[], datetime] | None = None


def _reason(exc: BaseException) -> str:
    """The database's own one-line reason ("file is not a database", "... is missing")."""
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(str(cause).split())[:200]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


async def check_health(sources: HealthSources) -> tuple[bool, dict[str, object]]:
    parts: dict[str, object] = {}
    failing: list[str] = []
    if sources.gateway_connected():
        parts["gateway"] = "connected"
    else:
        parts["gateway"] = "disconnected"
        failing.append("gateway")
    try:
        latency = await asyncio.wait_for(sources.database.ping(), DB_TIMEOUT_SECONDS)
        sources.metrics.db_latency.observe(latency)
        parts["database"] = f"ok ({latency * 1000:.1f} ms)"
    except Exception as exc:
        parts["database"] = f"unreachable: {_reason(exc)}"
        failing.append("database")
    if sources.scheduler_alive():
        parts["scheduler"] = "running"
    else:
        parts["scheduler"] = "stopped"
        failing.append("scheduler")
    parts["status"] = "ok" if not failing else "failing: " + ", ".join(failing)
    return not failing, parts


def build_web_app(
    sources: HealthSources, dashboard: DashboardSources | None = None
) -> web.Application:
    app = web.Application(middlewares=[security_headers])

    async def healthz(_request: web.Request) -> web.Response:
        ok, parts = await check_health(sources)
        return web.Response(
            status=200 if ok else 503,
            text=json.dumps(parts, sort_keys=True),
            content_type="application/json",
        )

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(
            body=sources.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_calendar_routes(app, sources.database, sources.clock)
    if dashboard is not None:
        add_dashboard_routes(app, dashboard)
    return app


class WebServer:
    """Starts and stops the aiohttp site; port 0 picks a free port (tests)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            sockets = getattr(site._server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

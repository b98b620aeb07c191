"""/healthz names the failing part; /metrics speaks Prometheus text."""

from __future__ import annotations

import aiohttp

from bot.db.engine import Database
from bot.metrics import Metrics
from bot.web.server import HealthSources, WebServer, build_web_app


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


async def test_health_ok_then_names_each_failing_part(db: Database) -> None:
    state = {"gateway": True, "scheduler": True}
    metrics = Metrics()
    server = WebServer(
        build_web_app(
            HealthSources(
                database=db,
                metrics=metrics,
                gateway_connected=lambda: state["gateway"],
                scheduler_alive=lambda: state["scheduler"],
            )
        ),
        "127.0.0.1",
        0,
    )
    await server.start()
    try:
        status, body = await _get(server.url + "/healthz")
        assert status == 200
        assert '"status": "ok"' in body

        state["gateway"] = False
        status, body = await _get(server.url + "/healthz")
        assert status == 503
        assert "failing: gateway" in body

        state["gateway"] = True
        state["scheduler"] = False
        status, body = await _get(server.url + "/healthz")
        assert status == 503
        assert "failing: scheduler" in body

        metrics.commands.labels(command="about", outcome="ok").inc()
        status, text = await _get(server.url + "/metrics")
        assert status == 200
        assert 'cohortbot_commands_total{command="about",outcome="ok"} 1.0' in text
        assert "cohortbot_database_latency_seconds_count" in text
    finally:
        await server.stop()


async def test_unreachable_database_is_named() -> None:
    broken = Database("sqlite+aiosqlite:////nonexistent-dir/x.db")
    server = WebServer(
        build_web_app(
            HealthSources(
                database=broken,
                metrics=Metrics(),
                gateway_connected=lambda: True,
                scheduler_alive=lambda: True,
            )
        ),
        "127.0.0.1",
        0,
    )
    await server.start()
    try:
        status, body = await _get(server.url + "/healthz")
        assert status == 503
        assert "failing: database" in body
        assert "unreachable" in body
    finally:
        await server.stop()
        await broken.dispose()

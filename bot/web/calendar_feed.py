"""``GET /calendar/{token}.ics``: a person's calendar feed for their calendar app to subscribe to.

The token is the only credential (256 random bits, revocable with ``/calendar reset-feed``), so
an unknown or revoked token answers 404 without saying which, and feeds are never cached by
shared proxies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from bot.calendar.personal import feed_for_token
from bot.db.engine import Database

Clock = Callable[[], datetime]


def add_calendar_routes(app: web.Application, db: Database, clock: Clock | None = None) -> None:
    now = clock or (lambda: datetime.now(UTC))

    async def feed(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        async with db.session() as session:
            data = await feed_for_token(session, token, now=now())
        if data is None:
            return web.Response(status=404, text="No calendar at this address.")
        return web.Response(
            body=data,
            headers={
                "Content-Type": "text/calendar; charset=utf-8",
                "Content-Disposition": 'inline; filename="calendar.ics"',
                "Cache-Control": "private, max-age=300",
            },
        )

    app.router.add_get("/calendar/{token}.ics", feed)

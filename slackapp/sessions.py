"""Socket Mode sessions the app hears about: slack_sdk reconnects by itself (a ``disconnect``
message, a dropped or stale socket), and the discussions must know, as Discord's adapter tells
them of a gateway session lost and opened (``bot.discussions.live``).

Every new session goes through the client's ``connect``, whatever the cause, so that is where
the end of the old one and the start of the new one are reported. Slack does not send again
the events of the time in between, so the app reads the open threads once the new one is up.
"""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient


class ReportingClient(SocketModeClient):
    """slack_sdk's Socket Mode client, calling ``on_down`` before it replaces a session and
    ``on_up`` once a session is open (the first one included)."""

    def __init__(
        self,
        *,
        on_down: Callable[[], None],
        on_up: Callable[[], None],
        app_token: str,
        web_client: AsyncWebClient,
        app: AsyncApp,
    ) -> None:
        super().__init__(app_token=app_token, logger=app.logger, web_client=web_client)
        self._on_down = on_down
        self._on_up = on_up

    async def connect(self) -> None:
        if self.current_session is not None:
            self._on_down()
        await super().connect()  # type: ignore[no-untyped-call]
        if not self.closed and self.current_session is not None:
            self._on_up()


class ReportingHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler over a ``ReportingClient`` (bolt's own builds a plain one;
    its constructor is not called for that reason, it only stores these three things)."""

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        *,
        web_client: AsyncWebClient,
        on_down: Callable[[], None],
        on_up: Callable[[], None],
    ) -> None:
        self.app = app
        self.app_token = app_token
        self.client = ReportingClient(
            on_down=on_down, on_up=on_up, app_token=app_token, web_client=web_client, app=app
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

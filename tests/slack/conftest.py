"""The Slack application against the local Slack server, on each configured database backend."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from bot.clock import ManualClock
from bot.config import Settings
from bot.db.engine import Database
from cohortlab.drive.slack import SlackWorld, build_slack_world
from cohortlab.localslack import LocalSlackServer
from slackapp.app import SlackApplication
from tests.e2e.conftest import e2e_url  # noqa: F401  (the fixture, per backend)

T = TypeVar("T")
#: The term's clock: the example cohort's prompts are scheduled in January 2030.
TERM_START = datetime(2030, 1, 12, 9, 0, tzinfo=UTC)


@dataclass
class SlackBox:
    server: LocalSlackServer
    app: SlackApplication
    world: SlackWorld
    clock: ManualClock
    db: Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def slack_settings(server: LocalSlackServer, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        platform="slack",
        slack_bot_token=server.bot_token,
        slack_app_token=server.app_token,
        slack_signing_secret=server.signing_secret,
        slack_api_url=server.api_base,
        database_url=url,
        web_port=0,
        recorder_writer="thread",
        gradebook_workers="loop",
    )
    values.update(overrides)
    return Settings(**values)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, tries: int = 100, pause: float = 0.1
) -> T:
    """The probe's first truthy answer; AssertionError naming ``what`` if none comes."""
    for _ in range(tries):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(pause)
    raise AssertionError(f"never happened: {what}")


async def start_box(url: str, *, mode: str = "socket") -> SlackBox:
    server = LocalSlackServer(mode=mode)
    await server.start()
    db = Database(url)
    # The bot binds the modules' channels by name when it starts, as on a new install.
    world = await build_slack_world(server, db, bind_channels=False)
    clock = ManualClock(TERM_START)
    port = free_port()
    settings = slack_settings(server, url, slack_mode=mode, web_port=port)
    app = SlackApplication(settings, clock=clock, db=db)
    server.events_url = f"http://127.0.0.1:{port}/slack/events"
    await app.start()
    return SlackBox(server, app, world, clock, db)


async def stop_box(box: SlackBox) -> None:
    await box.app.stop()
    await box.server.stop()
    await box.db.dispose()
    assert box.server.internal_errors == [], box.server.internal_errors


@pytest.fixture
async def slack(e2e_url: str) -> AsyncIterator[SlackBox]:  # noqa: F811
    box = await start_box(e2e_url)
    try:
        yield box
    finally:
        await stop_box(box)

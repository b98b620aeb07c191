"""End-to-end fixtures: the real bot against the local Discord server, on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.db.engine import Database
from cohortlab.sandbox import Sandbox, World
from tests.storage_backends import Backends


@pytest.fixture
async def sandbox(storage: Backends) -> AsyncIterator[Sandbox]:
    """A started sandbox: the example cohort's server, the bot connected and ready."""
    url = await storage.fresh_url("sqlite", migrated=False)
    db = Database(url)
    box = Sandbox(db)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()
        await db.dispose()
    assert box.server.internal_errors == [], box.server.internal_errors
    assert box.server.unknown_routes == [], box.server.unknown_routes


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    assert sandbox.world is not None
    return sandbox.world

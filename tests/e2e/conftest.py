"""End-to-end fixtures: the real bot against the local Discord server, on a fresh database.

Every sandbox-based test, and every test that builds its own database through ``e2e_url``, runs
once per configured backend (``tests.storage_backends.backends()``): ``[sqlite]`` always, and
``[postgres]`` too when ``COHORTBOT_TEST_POSTGRES_URL`` is set (CI sets it).

SQLite-only tests say so where they build their database. They exercise what exists only on a
SQLite file: the file itself going away, the default ``cohortbot.db`` of an unconfigured run, and
the helper processes of ``bot/childproc.py`` (discussion writer, ``/marks`` reader, exporter),
which start only for a SQLite file; on PostgreSQL that work runs on the bot's event loop, which
the ``[postgres]`` runs of every other test cover.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.db.engine import Database
from cohortlab.sandbox import Sandbox, World
from tests.e2e.quiet import first_runs_done
from tests.storage_backends import Backends


@pytest.fixture
async def e2e_url(storage: Backends, backend: str) -> AsyncIterator[str]:
    """A fresh database URL with the schema at head, on each configured backend; for tests
    that start ``cohortbot run`` processes or build their own sandbox. Dropped afterwards."""
    url = await storage.fresh_url(backend)
    try:
        yield url
    finally:
        await storage.drop(url)


@pytest.fixture
async def sandbox(e2e_url: str) -> AsyncIterator[Sandbox]:
    """A started sandbox: the example cohort's server, the bot connected and ready.

    The database starts from the migrated template (``Sandbox.start`` still runs the upgrade,
    a no-op at head): migrating an empty PostgreSQL database costs seconds per test, and the
    migrations themselves are tested from empty in tests/storage.
    """
    db = Database(e2e_url)
    box = Sandbox(db)
    await box.start()
    try:
        await first_runs_done(box)
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

"""Shared fixtures: isolated databases on every configured backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.db.engine import Database
from tests.storage_backends import Backends, backends


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    backends_ = Backends(tmp_path_factory.mktemp("storage"))
    yield backends_
    asyncio.run(backends_.close())


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(storage: Backends, backend: str) -> AsyncIterator[Database]:
    """A `Database` on a fresh schema migrated to head, on each configured backend."""
    url = await storage.fresh_url(backend)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
        await storage.drop(url)


@pytest.fixture
async def empty_db(storage: Backends, backend: str) -> AsyncIterator[Database]:
    """A `Database` with no schema at all (migration tests start here)."""
    url = await storage.fresh_url(backend, migrated=False)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
        await storage.drop(url)

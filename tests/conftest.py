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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly which storage backends the storage tests ran on (CI logs are read for it)."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if getattr(report, "when", "call") != "call" and outcome != "skipped":
                continue
            for name in ("sqlite", "postgres"):
                if f"[{name}" in nodeid or f"-{name}]" in nodeid or f"-{name}-" in nodeid:
                    counts.setdefault(name, {}).setdefault(outcome, 0)
                    counts[name][outcome] += 1
    terminalreporter.section("storage backends")
    for name in ("sqlite", "postgres"):
        if name in counts:
            detail = ", ".join(f"{n} {o}" for o, n in sorted(counts[name].items()))
            terminalreporter.write_line(f"{name}: {detail}")
        else:
            terminalreporter.write_line(f"{name}: no storage test ran on it")

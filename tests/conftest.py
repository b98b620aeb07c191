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


#: Rough seconds of the longest tests (node id prefix -> seconds, measured with four workers on
#: a busy 2-core machine; the first match counts). ``make test`` hands tests to xdist workers
#: one at a time in collection order (``--maxschedchunk 1``), so starting these first, each on
#: its own worker, keeps them from piling up at the end of the run or back to back on one
#: worker. Approximate figures are enough; a test missing here starts in its usual place.
LONGEST = [
    ("tests/e2e/test_hostile_input.py::test_every_command_survives_hostile_options[postgres", 300),
    ("tests/e2e/test_chaos_term.py::", 240),
    ("tests/e2e/test_hostile_input.py::", 150),
    ("tests/parity/test_permission_matrix.py::test_permission_matrix_on_this_platform[slack", 360),
    ("tests/parity/test_permission_matrix.py::test_permission_matrix_on_this_platform", 50),
    ("tests/parity/test_demo.py::", 200),
    ("tests/slack/test_process.py::", 40),
    ("tests/e2e/test_permission_matrix.py::test_permission_matrix_over_every_command[postgres", 60),
    ("tests/unit/test_gradebook_cli.py::test_export_module_and_programme", 60),
    ("tests/e2e/test_several_processes.py::", 40),
    ("tests/e2e/test_discussions_crash.py::", 35),
    ("tests/e2e/test_discussions_nothing_lost.py::test_posts_made_while", 34),
    ("tests/unit/test_packaging.py::", 32),
    ("tests/e2e/test_process.py::test_three_settings", 30),
    ("tests/e2e/test_permission_matrix.py::test_permission_matrix_over_every_command", 26),
    ("tests/e2e/test_database_file_recovery.py::", 25),
    ("tests/e2e/test_notices.py::test_killed_at_random_points", 20),
    ("tests/e2e/test_discussions_nothing_lost.py::test_a_prompt_closes_at_its_time", 20),
    ("tests/e2e/test_demo.py::", 18),
    ("tests/parity/test_peer.py::", 18),
    ("tests/slack/test_peer_flow.py::", 18),
    ("tests/parity/test_capabilities.py::", 12),
    ("tests/parity/test_teams.py::", 12),
    ("tests/unit/test_cli.py::", 12),
]


def _expected_seconds(item: pytest.Item) -> int:
    return next((s for prefix, s in LONGEST if item.nodeid.startswith(prefix)), 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest tests first, one per worker before a second one is queued behind it.

    Each xdist worker is given two tests to start with and then one whenever it finishes
    one; so the longest go in positions 0, 2, 4, ... (the first of each worker's pair), each
    followed by a short test, and the rest of the long ones come next. The order is the same
    on every worker (xdist requires it): it depends only on the collection and worker count.
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    long_ = sorted((i for i in items if _expected_seconds(i)), key=_expected_seconds, reverse=True)
    short = [i for i in items if not _expected_seconds(i)]
    ordered: list[pytest.Item] = []
    for n, item in enumerate(long_):
        ordered.append(item)
        if n < workers and short and workers > 1:
            ordered.append(short.pop(0))
    items[:] = ordered + short


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

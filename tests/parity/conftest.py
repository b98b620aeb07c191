"""One cohort per test on each platform (Discord, Slack) × each configured database backend:
the same test body drives the real bot on either local server through ``cohortlab.drive``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from bot.db.engine import Database
from cohortlab.drive import PLATFORMS, Cohort, start_cohort
from tests.e2e.conftest import e2e_url  # noqa: F401  (the fixture, per backend)
from tests.e2e.quiet import first_runs_done

#: The term's clock: the example cohort's prompts are scheduled in January 2030.
TERM_START = datetime(2030, 1, 12, 9, 0, tzinfo=UTC)


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def cohort(platform: str, e2e_url: str) -> AsyncIterator[Cohort]:  # noqa: F811
    db = Database(e2e_url)
    started = await start_cohort(platform, db, start=TERM_START)
    try:
        await first_runs_done(cast(Any, started))
        yield started
    finally:
        await started.stop()
        await db.dispose()

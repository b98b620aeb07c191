"""Wait out the scheduler's first runs, so a sandbox test's runs are the ones it asks for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cohortlab.sandbox import Sandbox


async def first_runs_done(box: Sandbox, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Return once every scheduled job's first run is over.

    The bot runs each job once about half a second (real time) after registering it, then
    every tick (an hour in the sandbox). Sandbox tests move the clock by hand and run the due
    work themselves (``Sandbox.advance``); when start-up is slow (PostgreSQL, a busy machine)
    that first run used to land inside the test as an extra run it never asked for, e.g. a
    retry right after a failure that the test expects to wait for the next run.
    """
    scheduler = box.app.scheduler
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        horizon = datetime.now(UTC) + timedelta(seconds=scheduler.tick_seconds / 2)
        first_pending = [
            job.id
            for job in scheduler._scheduler.get_jobs()
            if job.id in scheduler._work and job.next_run_time <= horizon
        ]
        if not first_pending:
            break
        assert loop.time() < deadline, f"first runs never happened: {first_pending}"
        await asyncio.sleep(0.05)
    # Submitted runs take their job's lock as they start: let them start, then wait for each.
    for _ in range(3):
        await asyncio.sleep(0)
    for lock in scheduler._locks.values():
        async with lock:
            pass

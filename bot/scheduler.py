"""APScheduler wiring: wakes the services' due work; holds no state of its own.

The database is the source of truth for what is due. APScheduler only runs a few periodic
"dispatch what is due" jobs, so start-up cost does not grow with the number of pending
notices (adding 10,000 APScheduler jobs costs about a second on this kind of machine).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.idle import wait_idle

log = logging.getLogger(__name__)

DueWork = Callable[[], Awaitable[object]]


class Scheduler:
    def __init__(self, tick_seconds: float = 30.0) -> None:
        self.tick_seconds = tick_seconds
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_error, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self._work: dict[str, DueWork] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._paused = False
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def register(self, name: str, work: DueWork) -> None:
        """Run ``work`` every tick and whenever someone calls ``wake(name)``."""
        self._work[name] = work
        self._locks[name] = asyncio.Lock()
        self._scheduler.add_job(
            self._run,
            "interval",
            seconds=self.tick_seconds,
            args=[name],
            id=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC) + timedelta(seconds=0.5),
        )

    async def _run(self, name: str) -> None:
        if self._paused:
            return
        self._running += 1
        self._idle.clear()
        try:
            async with self._locks[name]:
                if not self._paused:
                    await self._work[name]()
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def run_now(self, name: str) -> None:
        """Run a job at once and wait for it (a command that must see it done): under the
        job's lock, so it never overlaps a scheduled run, and nothing once paused."""
        if name in self._work:
            await self._run(name)

    def pause(self) -> None:
        """Start no more runs (shutdown): ticks and wakes from now on do nothing."""
        self._paused = True

    async def idle(self, within: float) -> bool:
        """Wait for the runs under way to finish, at most ``within`` seconds (False: they did
        not; what they claimed is verified by the next process after its lease)."""
        return await wait_idle(
            self._idle,
            within,
            log=log,
            left_running="stopping while scheduled work is still running",
        )

    def wake(self, name: str, at: datetime | None = None, *, key: str | None = None) -> None:
        """Ask for an extra run (e.g. a notice was scheduled sooner than the next tick).

        Asking twice for the same moment runs once; a ``key`` names a wake that each new
        request with the same key moves (e.g. "the next thing due"), so they never pile up.
        """
        if name not in self._work:
            return
        run_date = at or datetime.now(UTC)
        self._scheduler.add_job(
            self._run,
            "date",
            run_date=run_date,
            args=[name],
            id=f"wake:{name}:{key or run_date.timestamp()}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def run_all_now(self) -> None:
        """Run every registered job once, in order (the demo's controllable clock uses this)."""
        for name in list(self._work):
            await self._run(name)

    def _on_error(self, event: JobExecutionEvent) -> None:
        if event.exception is not None:
            log.error(
                "scheduled job %s failed",
                event.job_id,
                exc_info=(type(event.exception), event.exception, event.exception.__traceback__),
            )
        else:
            log.warning("scheduled job %s missed its run time", event.job_id)

    def start(self) -> None:
        self._scheduler.start()

    @property
    def alive(self) -> bool:
        return bool(self._scheduler.running)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

"""Discussions while the bot runs, whatever the platform: the recorder and the due work.

The Discord cog and the Slack adapter both hold one ``LiveDiscussions``: they feed it the
messages, edits and deletions of watched threads and tell it when their connection comes and
goes; it records answers (``Recorder``), opens and closes prompts on time (``jobs.run_due``)
and reads thread histories through the chat port. One place, so both platforms close a prompt
by the same rule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bot.chat import ChatPort
from bot.clock import Clock
from bot.db.engine import Database
from bot.discussions import jobs
from bot.discussions.recorded import RecordedPrompts
from bot.discussions.recorder import Recorder, WriterKind
from bot.discussions.recording import watched_threads
from bot.outbox import Outbox
from bot.scheduler import Scheduler

log = logging.getLogger(__name__)

JOB = "discussions"


class LiveDiscussions:
    """The recorder, its start-up and reconnect reads, and the ``discussions`` job."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        chat: ChatPort,
        scheduler: Scheduler,
        outbox: Outbox,
        bot_user_id: Callable[[], str | None],
        writer: WriterKind,
    ) -> None:
        self.db = db
        self.clock = clock
        self.chat = chat
        self.scheduler = scheduler
        self.outbox = outbox
        self.recorder = Recorder(
            db, clock, bot_user_id=bot_user_id, links=chat.links, writer=writer
        )
        # The service calls that depend on the recorder's queue or close-time cache.
        self.prompts = RecordedPrompts(self.recorder)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Watch the open threads and register the due work."""
        async with self.db.session() as session:
            self.recorder.watch(await watched_threads(session, now=self.clock.now()))
        await self.recorder.prime()
        self.scheduler.register(JOB, self.due_work)

    async def close(self) -> None:
        """The clean-shutdown path (the due work under way has finished): a history read under
        way stops (a cut-short read infers no deletion; the next start reads again), and what
        the recorder has queued is written."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.recorder.close()

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("%s failed", name)

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Wait for the history reads started on connecting (benchmarks measure after them)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---------------------------------------------------------------- the connection

    def connected(self) -> None:
        """A new session (start-up, or one that could not resume): nothing was replayed, so
        every open thread is read whole, edits and deletions included."""
        self.recorder.gateway_up()
        self.spawn(
            self._read_then_wake(self.recorder.reconcile(self.chat)), "discussions-reconcile"
        )

    def resumed(self) -> None:
        self.recorder.gateway_up()
        self.spawn(self._read_then_wake(self.backfill()), "discussions-backfill")

    def disconnected(self) -> None:
        # Until the next session's history read, live posts must not move the cursors.
        self.recorder.gateway_down()

    async def backfill(self) -> int:
        return await self.recorder.backfill(self.chat)

    async def _read_then_wake(self, read: Awaitable[int]) -> None:
        """A start-up or reconnect read, then the due work: a close it held back can go on."""
        await read
        self.scheduler.wake(JOB)

    # ---------------------------------------------------------------- due work

    async def run_due(self) -> None:
        """Do the due work now (one run at a time: the scheduler's job lock)."""
        await self.scheduler.run_now(JOB)

    def wake(self, at: datetime | None = None) -> None:
        self.scheduler.wake(JOB, at)

    async def due_work(self) -> None:
        await self.recorder.flush()
        await self._refresh_watch()
        report = await jobs.run_due(
            self.db,
            self.chat,
            now=self.clock.now(),
            thread_read=self._thread_read,
            ledger_lock=self.recorder.ledger_lock,
            sender=self.outbox,
            watch=self.recorder.watch,
        )
        # Threads it just made: read back whatever was posted before they were watched.
        self.recorder.watch(report.opened)
        await self._read_unread()
        following = await jobs.next_due(self.db)
        now = self.clock.now()
        if following is not None and following > now:
            # Closings wake the scheduler as openings do: on time, not at the next tick. (What
            # is overdue, e.g. a close that failed, waits for the tick: no busy retry.) The
            # scheduler keeps real time; the bot's clock may be a demo's, hence the offset.
            self.scheduler.wake(JOB, datetime.now(UTC) + (following - now), key="next")

    async def _thread_read(self, thread_id: str) -> bool:
        """Whether the thread is read whole, reading it now if the connection is up (a prompt
        is closed only then: ``jobs.run_due``)."""
        if not self.recorder.is_read_through(thread_id) and self.recorder.live:
            await self.recorder.backfill(self.chat, [thread_id])
        return self.recorder.is_read_through(thread_id)

    async def _refresh_watch(self) -> None:
        """Pick up threads opened by another process, and read those not read through."""
        async with self.db.session() as session:
            threads = await watched_threads(session, now=self.clock.now())
        self.recorder.replace_watched(threads)
        await self._read_unread()

    async def _read_unread(self) -> None:
        """Every watched thread gets a history read once the connection delivers (new threads,
        threads whose start-up read failed); until then its live posts leave the cursor."""
        unread = self.recorder.unread() if self.recorder.live else []
        if unread:
            await self.recorder.backfill(self.chat, unread)

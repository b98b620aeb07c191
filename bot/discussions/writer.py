"""Where a batch of discussion evidence is written: a child process, a thread, or the loop.

The event loop parses every gateway frame, so whatever writes the batches must not take the
interpreter lock from it. SQLite work in a worker *thread* still does: the driver gives the
lock up around each statement and takes it back afterwards, and every time the loop gives the
lock up for a socket read the writer may take it and keep the loop waiting (measured here: a
thread writer cost the loop more than a second per 30,000 messages, more than writing on the
loop itself). A writer *process* has its own interpreter: the loop only pickles the queued
batch (about half a microsecond a message) and the rest runs on the other core.

The child is forked from a fork server (never from the running bot, which has threads and an
event loop) and dies with the bot, as a thread would: what a crash interrupts is recovered by
the history backfill, exactly as before. ``writer="thread"`` keeps the previous behaviour for
platforms or sandboxes that do not allow child processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Literal, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.db.engine import SQLITE_BUSY_TIMEOUT_MS, sqlite_pragmas

log = logging.getLogger(__name__)

__all__ = ["BatchWriter", "WriterKind", "sqlite_file_engine"]

T = TypeVar("T")
WriterKind = Literal["process", "thread"]

#: The child's own engine (one per writer process).
_child_engine: Engine | None = None


def sqlite_file_engine(url: str) -> Engine | None:
    """A synchronous engine on the same SQLite file, or None where one does not apply.

    With aiosqlite every statement is a round trip through the event loop, and during a
    gateway backlog each one waits for the reader to drain its buffer. PostgreSQL and
    in-memory SQLite keep the async path (None).
    """
    if not BatchWriter.applies(url):
        return None
    engine = create_engine(
        make_url(url).set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", sqlite_pragmas)
    return engine


def _die_with(bot_pid: int) -> None:
    """End this process as soon as the bot's does, even mid-transaction (SQLite rolls an
    unfinished one back), as a writer thread would end with it.

    Nothing else would end it: its parent is the fork server, not the bot, and its task queue
    is a pipe it holds both ends of, so it never sees the bot go.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(bot_pid)
        except (AttributeError, OSError):  # not Linux 5.3+: poll for the process instead
            while True:
                time.sleep(0.2)
                try:
                    os.kill(bot_pid, 0)
                except ProcessLookupError:
                    os._exit(0)
                except PermissionError:
                    pass
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll()  # readable once the bot has exited, reaped or not
        os._exit(0)

    threading.Thread(target=watch, name="watch-bot", daemon=True).start()


def _child_init(url: str, bot_pid: int) -> None:
    global _child_engine
    _die_with(bot_pid)
    # Ctrl-C in a terminal reaches the whole process group: the bot decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _child_engine = sqlite_file_engine(url)


def _child_ready() -> bool:
    return _child_engine is not None


def _child_run(work: Callable[[Session], T]) -> T:
    assert _child_engine is not None, "the writer process was not initialised"
    with Session(_child_engine) as session, session.begin():
        return work(session)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # Modules the children need, imported once in the fork server rather than per child.
        ctx.set_forkserver_preload(["bot.discussions.recording", "bot.discussions.writer"])
        return ctx
    return multiprocessing.get_context("spawn")


class BatchWriter:
    """Runs one transaction at a time on a SQLite file, off the event loop.

    ``run(work)`` calls ``work(session)`` inside a transaction and returns its result; ``work``
    must be picklable (a module-level function or a ``functools.partial`` of one) when the
    writer is a process.
    """

    def __init__(self, url: str, kind: WriterKind = "process") -> None:
        self.url = url
        self.kind: WriterKind = kind
        self._engine: Engine | None = None
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if kind == "thread":
            self._engine = sqlite_file_engine(url)

    @staticmethod
    def applies(url: str) -> bool:
        """Only a SQLite file has a second connection worth writing through."""
        parsed = make_url(url)
        return parsed.get_backend_name() == "sqlite" and parsed.database not in (
            None,
            "",
            ":memory:",
        )

    def _in_thread(self, work: Callable[[Session], T]) -> T:
        assert self._engine is not None
        with Session(self._engine) as session, session.begin():
            return work(session)

    def _process_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=_context(),
                initializer=_child_init,
                initargs=(self.url, os.getpid()),
            )
        return self._pool

    def warm(self) -> None:
        """Start the child now, so the first batch does not wait for it (not awaited)."""
        if self.kind == "process":
            self._process_pool().submit(_child_ready)

    async def run(self, work: Callable[[Session], T]) -> T:
        if self.kind == "thread":
            return await asyncio.to_thread(self._in_thread, work)
        loop = asyncio.get_running_loop()
        pool = self._process_pool()
        try:
            return await loop.run_in_executor(pool, _child_run, work)
        except BrokenProcessPool:
            # The child died (killed, out of memory): the next batch gets a new one. Whether
            # the interrupted transaction committed is unknown, and does not matter: rows are
            # keyed by message id, so the retry counts each once.
            log.error("the discussion writer process died; starting a new one")
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    async def close(self) -> None:
        """Wait for the batch under way, then stop the child (or drop the thread's engine)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True)
        if self._engine is not None:
            self._engine.dispose()

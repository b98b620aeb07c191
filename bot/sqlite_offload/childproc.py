"""One helper process beside the bot, for Python work that must not hold the event loop.

The bot's event loop parses every gateway frame and answers every command; CPU-bound Python
on it (writing a batch of discussion evidence, computing a student's marks) delays everything
else, and a worker *thread* does not help because it competes for the same interpreter lock.
A child process has its own interpreter and runs on the other core.

The child is forked from a fork server (never from the running bot, which has threads and an
event loop), ignores Ctrl-C (the bot decides when to stop) and dies with the bot, as a thread
would. Only a SQLite file is worth a child: PostgreSQL and in-memory SQLite stay on the loop.
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
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from bot.db.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    guard_sqlite_file,
    sqlite_path,
    sqlite_pragmas,
)

log = logging.getLogger(__name__)

__all__ = [
    "BrokenProcessPool",
    "Child",
    "child_started",
    "sqlite_file",
    "sqlite_file_engine",
]

T = TypeVar("T")

#: Imported once in the fork server rather than in every child it forks.
PRELOAD = [
    "bot.discussions.recording",
    "bot.sqlite_offload.discussion_writer",
    "bot.sqlite_offload.marks_reader",
]


def sqlite_file(url: str) -> bool:
    """Only a SQLite file has a second connection worth opening from another process."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def sqlite_file_engine(url: str) -> Engine | None:
    """A synchronous engine on the same SQLite file, or None where one does not apply.

    With aiosqlite every statement is a round trip through the event loop, and during a
    gateway backlog each one waits for the reader to drain its buffer. PostgreSQL and
    in-memory SQLite keep the async path (None).
    """
    if not sqlite_file(url):
        return None
    engine = create_engine(
        make_url(url).set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", sqlite_pragmas)
    path = sqlite_path(url)
    if path is not None:
        guard_sqlite_file(engine, path)  # a moved or replaced file is reopened, not written past
    return engine


def _die_with(bot_pid: int) -> None:
    """End this process as soon as the bot's does, even mid-transaction (SQLite rolls an
    unfinished one back), as a thread would end with it.

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


def child_started(bot_pid: int) -> None:
    """What every child does first (call it from its initializer)."""
    _die_with(bot_pid)
    # Ctrl-C in a terminal reaches the whole process group: the bot decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _ready() -> bool:
    return True


class Child:
    """One child process running one call at a time, replaced when it dies.

    ``initializer(*initargs, bot_pid)`` runs once in each new child (it should call
    ``child_started``); ``run(fn, *args)`` calls a picklable module-level ``fn`` there.
    """

    def __init__(self, name: str, initializer: Callable[..., None], *initargs: Any) -> None:
        self.name = name
        self._initializer = initializer
        self._initargs = initargs
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _process_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=_context(),
                initializer=self._initializer,
                initargs=(*self._initargs, os.getpid()),
            )
        return self._pool

    def warm(self) -> None:
        """Start the child now, so the first call does not wait for it (not awaited)."""
        self._process_pool().submit(_ready)

    def pids(self) -> list[int]:
        """The running child's pid (empty before it starts); for tests and diagnostics."""
        pool = self._pool
        processes: dict[int, Any] = getattr(pool, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None]

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the child; ``BrokenProcessPool`` if the child died meanwhile (the
        next call gets a new one)."""
        loop = asyncio.get_running_loop()
        pool = self._process_pool()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            log.error("the %s process died; starting a new one", self.name)
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    async def close(self) -> None:
        """Wait for the call under way, then stop the child."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True)

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
from collections.abc import Callable
from typing import Literal, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.sqlite_offload.childproc import Child, child_started, sqlite_file, sqlite_file_engine

__all__ = ["BatchWriter", "WriterKind"]

T = TypeVar("T")
WriterKind = Literal["process", "thread"]

#: The child's own engine (one per writer process).
_child_engine: Engine | None = None


def _child_init(url: str, bot_pid: int) -> None:
    global _child_engine
    child_started(bot_pid)
    _child_engine = sqlite_file_engine(url)


def _child_run(work: Callable[[Session], T]) -> T:
    assert _child_engine is not None, "the writer process was not initialised"
    with Session(_child_engine) as session, session.begin():
        return work(session)


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
        self.child: Child | None = None
        if kind == "thread":
            self._engine = sqlite_file_engine(url)
        else:
            self.child = Child("discussion writer", _child_init, url)

    @staticmethod
    def applies(url: str) -> bool:
        """Only a SQLite file has a second connection worth writing through."""
        return sqlite_file(url)

    def _in_thread(self, work: Callable[[Session], T]) -> T:
        assert self._engine is not None
        with Session(self._engine) as session, session.begin():
            return work(session)

    def warm(self) -> None:
        """Start the child now, so the first batch does not wait for it (not awaited)."""
        if self.child is not None:
            self.child.warm()

    async def run(self, work: Callable[[Session], T]) -> T:
        """The batch's result; ``BrokenProcessPool`` if the child died under it. Whether the
        interrupted transaction committed is then unknown, and does not matter: rows are keyed
        by message id, so the caller's retry counts each once."""
        if self.child is None:
            return await asyncio.to_thread(self._in_thread, work)
        return await self.child.run(_child_run, work)

    async def close(self) -> None:
        """Wait for the batch under way, then stop the child (or drop the thread's engine)."""
        if self.child is not None:
            await self.child.close()
        if self._engine is not None:
            self._engine.dispose()

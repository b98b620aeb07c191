"""Group commit for thread messages: record thousands per second without losing any.

One SQLite commit per message manages about 250 messages a second; a busy cohort (or a
reconnect replaying a backlog) delivers far more. The recorder queues what the gateway delivers
and writes it in one transaction every ``max_delay`` seconds or every ``max_rows`` rows,
whichever comes first. The gateway tap only appends a flat tuple (``bot.chat.WireMessage``) to
a list, and everything after the queue runs in the writer (``bot.discussions.writer``: a child
process on a SQLite file), so the event loop keeps parsing.

What a crash loses is the unflushed tail of the queue. The thread cursors advance only with
the rows they cover, so the history backfill at start-up and on reconnect picks that tail up
again; the unique message id makes it count once. A clean stop flushes (``close``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from bot.chat import ChatError, ChatMessage, ChatPort
from bot.clock import Clock
from bot.db.engine import Database, DatabaseFileMissing
from bot.db.models import ContributionVia
from bot.discussions import recording
from bot.discussions.recording import MessageDelete, MessageEdit, WireMessage
from bot.discussions.writer import BatchWriter, WriterKind

log = logging.getLogger(__name__)

__all__ = ["CLOSE_TIMES_TTL", "Recorder"]

CLOSE_TIMES_TTL = 5.0  # seconds


class Recorder:
    """Queues messages of watched threads and writes them in batches (see module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        bot_user_id: Callable[[], str | None],
        max_rows: int = 500,
        max_batch: int = 2000,
        max_delay: float = 0.05,
        retry_delay: float = 1.0,
        writer: WriterKind = "process",
    ) -> None:
        self.db = db
        self.clock = clock
        self.bot_user_id = bot_user_id
        self.max_rows = max_rows
        self.max_batch = max_batch
        self._people: dict[str, int] = {}
        self._close_times: recording.CloseTimes | None = None
        self._close_times_at = 0.0
        # A SQLite file is written off the loop (see ``writer``); otherwise the async session.
        self._writer = BatchWriter(db.url, writer) if BatchWriter.applies(db.url) else None
        self.max_delay = max_delay
        self.retry_delay = retry_delay
        self.threads: dict[str, int] = {}
        self._messages: list[WireMessage] = []
        self._edits: list[MessageEdit] = []
        self._deletes: list[MessageDelete] = []
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self.recorded = 0
        self.batches = 0
        self.failures = 0

    # ----------------------------------------------------------------- what to watch

    def watch(self, threads: Mapping[str, int]) -> list[str]:
        """Add threads; returns those that are new (they need a backfill)."""
        new = [t for t in threads if t not in self.threads]
        self.threads.update(threads)
        return new

    def replace_watched(self, threads: Mapping[str, int]) -> list[str]:
        new = [t for t in threads if t not in self.threads]
        self.threads = dict(threads)
        return new

    def watches(self, channel_id: str) -> bool:
        return channel_id in self.threads

    async def prime(self) -> None:
        """Know the roster's platform ids before the first batch: during a backlog every extra
        query in a batch waits behind the gateway reader, so the first batch should not need any.
        """
        if self._writer is not None:
            self._writer.warm()
        async with self.db.session() as session:
            self._people.update(await recording.known_people(session))

    # ------------------------------------------------------------------- intake

    @property
    def pending(self) -> int:
        return len(self._messages) + len(self._edits) + len(self._deletes)

    def add(self, message: ChatMessage, via: ContributionVia = ContributionVia.GATEWAY) -> None:
        if message.channel_id not in self.threads:
            return
        self._messages.append(recording.wire(message, via))
        self._schedule()

    def add_wired(self, message: WireMessage) -> None:
        """The gateway's hot path: a message already in the queued form (``recording.wire``)."""
        if message[1] not in self.threads:
            return
        self._messages.append(message)
        self._schedule()

    def add_edit(self, message: ChatMessage, before: str | None = None) -> None:
        if message.channel_id not in self.threads:
            return
        self._edits.append(MessageEdit(message, before))
        self._schedule()

    def add_delete(self, message_id: str, channel_id: str, at: datetime) -> None:
        if channel_id not in self.threads:
            return
        self._deletes.append(MessageDelete(message_id, channel_id, at))
        self._schedule()

    def _schedule(self) -> None:
        if self._closed:
            return
        if self.pending >= self.max_rows:
            self._kick()
        elif self._timer is None and (self._task is None or self._task.done()):
            self._timer = asyncio.get_running_loop().call_later(self.max_delay, self._kick)

    def _kick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), name="discussions-recorder"
            )

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending and not self._closed:
            if not await self._flush_once():
                # The database refused: try again later, without holding anyone up.
                if self._timer is None:
                    self._timer = loop.call_later(self.retry_delay, self._kick)
                return
            if self.pending < self.max_rows:
                # Let the gateway deliver more before the next batch: bigger batches, fewer
                # commits. The timer (not this task) writes a small tail.
                break
        if self.pending and not self._closed and self._timer is None:
            self._timer = loop.call_later(self.max_delay, self._kick)

    async def _flush_once(self) -> bool:
        async with self._lock:
            # A backlog is written in bigger transactions: fewer commits, same safety.
            messages, self._messages = (
                self._messages[: self.max_batch],
                self._messages[self.max_batch :],
            )
            edits, self._edits = self._edits, []
            deletes, self._deletes = self._deletes, []
            if not (messages or edits or deletes):
                return True
            threads = dict(self.threads)
            people = dict(self._people)
            try:
                close_times = await self._close_times_now(set(threads.values()))
                # Everything after the queue happens in the writer: with a writer process, on
                # the other core. A partial of a module function, because it travels pickled.
                write = functools.partial(
                    recording.record_wired_batch_sync,
                    threads=threads,
                    messages=messages,
                    edits=edits,
                    deletes=deletes,
                    bot_user_id=self.bot_user_id(),
                    now=self.clock.now(),
                    people_cache=people,
                    close_times=close_times,
                )
                if self._writer is not None:
                    result = await self._writer.run(write)
                else:
                    async with self.db.session() as session:
                        result = await session.run_sync(write)
            except Exception as exc:
                self.failures += 1
                if isinstance(exc, DatabaseFileMissing):  # an operator's move: wait for it
                    log.warning("recording %d messages waits: %s", len(messages), exc)
                else:
                    log.exception(
                        "recording %d messages failed; keeping them to retry", len(messages)
                    )
                self._messages[:0] = messages
                self._edits[:0] = edits
                self._deletes[:0] = deletes
                return False
            self.recorded += result.inserted
            self.batches += 1
            self._people.update(result.people)
            return True

    async def _close_times_now(self, prompt_ids: set[int]) -> recording.CloseTimes:
        """The cached close times, re-read when stale (another process may have extended one)."""
        fresh = time.monotonic() - self._close_times_at <= CLOSE_TIMES_TTL
        cached = self._close_times
        if fresh and cached is not None and prompt_ids <= set(cached.closes):
            return cached
        load = functools.partial(recording.load_close_times_sync, prompt_ids=sorted(prompt_ids))
        if self._writer is not None:
            times = await self._writer.run(load)
        else:
            async with self.db.session() as session:
                times = await session.run_sync(load)
        self._close_times, self._close_times_at = times, time.monotonic()
        return times

    def forget_close_times(self) -> None:
        """Re-read close times before the next batch (a close or an extension changed)."""
        self._close_times = None
        self._close_times_at = 0.0

    async def flush(self) -> None:
        """Write everything queued so far (tests, shutdown, before scoring)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        attempts = 0
        while self.pending:
            if not await self._flush_once():
                attempts += 1
                if attempts >= 3:
                    log.error(
                        "giving up on %d queued messages; backfill will recover them", self.pending
                    )
                    return
                await asyncio.sleep(self.retry_delay)

    async def close(self) -> None:
        """Flush and stop taking work: the clean-shutdown path."""
        await self.flush()
        self._closed = True
        if self._writer is not None:
            await self._writer.close()

    # ----------------------------------------------------------------- backfill

    def _wanted(self, thread_ids: Iterable[str] | None) -> list[str]:
        """The watched ones among ``thread_ids`` (all watched threads if None)."""
        source = list(thread_ids) if thread_ids is not None else list(self.threads)
        return [t for t in source if t in self.threads]

    async def backfill(self, chat: ChatPort, thread_ids: Iterable[str] | None = None) -> int:
        """Read history after each thread's cursor and record what is missing; returns how many
        messages were read."""
        wanted = self._wanted(thread_ids)
        if not wanted:
            return 0
        async with self.db.session() as session:
            after = await recording.cursors(session, wanted)
        read = 0
        for thread_id in wanted:
            try:
                async for message in chat.history(thread_id, after_id=after.get(thread_id)):
                    self._messages.append(recording.wire(message, ContributionVia.BACKFILL))
                    read += 1
                    if len(self._messages) >= self.max_rows:
                        await self._flush_once()
            except ChatError as exc:
                log.warning("cannot read the history of thread %s: %s", thread_id, exc)
        await self.flush()
        return read

    async def reconcile(self, chat: ChatPort, thread_ids: Iterable[str] | None = None) -> int:
        """The backfill, plus what changed while nobody listened: each thread's whole history
        is read, so edits and deletions made while the bot was offline are recorded too (an
        edit by its own time, so once; a deletion at the time it is noticed). A resumed
        session does not need this: the gateway replays what it missed. Returns how many
        messages were read."""
        wanted = self._wanted(thread_ids)
        if not wanted:
            return 0
        async with self.db.session() as session:
            after = await recording.cursors(session, wanted)
            stored = await recording.live_message_ids(session, wanted)
        read = 0
        for thread_id in wanted:
            cursor = int(after[thread_id]) if thread_id in after else 0
            seen: set[str] = set()
            try:
                async for message in chat.history(thread_id):
                    read += 1
                    seen.add(message.id)
                    if int(message.id) > cursor:
                        self._messages.append(recording.wire(message, ContributionVia.BACKFILL))
                    elif message.edited_at is not None:
                        self._edits.append(MessageEdit(message))
                    if len(self._messages) >= self.max_rows:
                        await self._flush_once()
            except ChatError as exc:
                # A partial read says nothing about deletions: none are inferred from it.
                log.warning("cannot read the history of thread %s: %s", thread_id, exc)
                continue
            now = self.clock.now()
            for gone in sorted(stored.get(thread_id, set()) - seen):
                self._deletes.append(MessageDelete(gone, thread_id, now))
        await self.flush()
        return read

"""Group commit for thread messages: record thousands per second without losing any.

One SQLite commit per message manages about 250 messages a second; a busy cohort (or a
reconnect replaying a backlog) delivers far more. The recorder queues what the gateway delivers
and writes it in one transaction every ``max_delay`` seconds or every ``max_rows`` rows,
whichever comes first. The gateway tap only appends a flat tuple (``bot.chat.WireMessage``) to
a list, and everything after the queue runs in the writer (on a SQLite file a child process,
``bot.sqlite_offload.discussion_writer``), so the event loop keeps parsing.

What a crash loses is the unflushed tail of the queue. The thread cursors advance only with
the rows they cover, so the history backfill at start-up and on reconnect picks that tail up
again; the unique message id makes it count once. A clean stop flushes (``close``).

A cursor means "everything up to here is stored", so it only moves over a contiguous range.
A thread is *read through* once a history read that began while the gateway session was up
has reached the present and been written; until then (after start-up, a lost session, or a
thread newly watched) live messages are recorded but leave the cursor where it is, so the read
starts from the last message really recorded whatever arrives meanwhile. The discussion due
work closes a prompt only once its thread is read through (``cogs.discussions``).

Recording a post in a prompt that has already closed credits the ledger at once
(``scoring.follow_evidence``, the same path the close takes), not only at release.

A thread is watched a moment after it exists (the opening process) or at the next refresh
(another process, or one that took over from a killed one). What happens in it before that
(a post, its edit, a deletion) is kept in memory for a while (``stray``, ``STRAY_SECONDS``)
and recorded as it happened once the thread is watched, before its history is read, so an
edit's earlier text and a deletion are not lost to a history read that sees only the present.
Events of channels that never become watched threads are dropped unwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.chat import ChatError, ChatMessage, ChatPort, MessageLinks
from bot.clock import Clock
from bot.db.engine import Database, DatabaseFileMissing
from bot.db.models import ContributionVia
from bot.discussions import recording, scoring
from bot.discussions.recording import MessageDelete, MessageEdit, WireMessage
from bot.sqlite_offload.discussion_writer import BatchWriter, WriterKind

log = logging.getLogger(__name__)

__all__ = ["CLOSE_TIMES_TTL", "Recorder", "WriterKind"]

CLOSE_TIMES_TTL = 5.0  # seconds
#: Events in channels not watched are kept this long, and this many at most (``Recorder.stray``).
STRAY_SECONDS = 300.0
STRAY_MAX = 2000
#: Messages prepared between two turns of the event loop on the loop's own path.
PREPARE_SLICE = 250


@dataclass
class _Taken:
    """A batch taken off the queue, with what it is judged by, until its transaction commits."""

    messages: list[WireMessage]
    edits: list[MessageEdit]
    deletes: list[MessageDelete]
    threads: dict[str, int]
    read_through: frozenset[str]
    close_times: recording.CloseTimes = field(default_factory=recording.CloseTimes)
    #: Its rows, built on the loop (None when a writer process builds them).
    prepared: recording.PreparedBatch | None = None


class Recorder:
    """Queues messages of watched threads and writes them in batches (see module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        bot_user_id: Callable[[], str | None],
        links: MessageLinks | None = None,
        max_rows: int = 500,
        max_batch: int = 2000,
        max_delay: float = 0.05,
        retry_delay: float = 1.0,
        writer: WriterKind = "process",
    ) -> None:
        self.db = db
        self.clock = clock
        self.bot_user_id = bot_user_id
        #: The platform's message links (a relayed reply names its parent by link); picklable.
        self.links = links
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
        #: Recent events of channels not watched: (monotonic time, channel, event).
        self._strays: deque[tuple[float, str, WireMessage | MessageEdit | MessageDelete]] = deque(
            maxlen=STRAY_MAX
        )
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        # Threads read up to the present during this gateway session (see module docstring).
        self._read_through: set[str] = set()
        self._reading: dict[str, int] = {}
        self._session = 0
        self._live = False
        # Closed prompts whose recorded evidence changed and whose credits must follow.
        self._to_credit: set[int] = set()
        #: Held while a prompt's credits are synced (the close and the recorder take turns).
        self.ledger_lock = asyncio.Lock()
        self.recorded = 0
        self.batches = 0
        self.failures = 0

    # ----------------------------------------------------------------- what to watch

    def watch(self, threads: Mapping[str, int]) -> list[str]:
        """Add threads; returns those that are new (they need a backfill). What was kept of
        them while they were not watched is queued first (``stray``)."""
        new = [t for t in threads if t not in self.threads]
        self.threads.update(threads)
        self._adopt(new)
        return new

    def replace_watched(self, threads: Mapping[str, int]) -> list[str]:
        new = [t for t in threads if t not in self.threads]
        self.threads = dict(threads)
        self._read_through &= set(threads)
        self._adopt(new)
        return new

    def watches(self, channel_id: str) -> bool:
        return channel_id in self.threads

    # ---------------------------------------------------------- read through

    def gateway_up(self) -> None:
        """A gateway session is delivering messages (READY or RESUMED)."""
        self._live = True

    def gateway_down(self) -> None:
        """The connection dropped: what is posted now may only be found by reading history."""
        self._live = False
        self._session += 1
        self._read_through.clear()

    def is_read_through(self, thread_id: str) -> bool:
        """Whether every message of the thread up to now is recorded or queued."""
        return thread_id in self._read_through

    def unread(self) -> list[str]:
        """Watched threads not read through, and no history read under way for them."""
        return [t for t in self.threads if t not in self._read_through and t not in self._reading]

    @property
    def live(self) -> bool:
        return self._live

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
        self.add_wired(recording.wire(message, via))

    def add_wired(self, message: WireMessage) -> None:
        """The gateway's hot path: a message already in the queued form (``recording.wire``)."""
        if message[1] not in self.threads:
            self.stray(message)
            return
        self._messages.append(message)
        self._schedule()

    def add_edit(self, message: ChatMessage, before: str | None = None) -> None:
        edit = MessageEdit(message, before)
        if message.channel_id not in self.threads:
            self.stray(edit)
            return
        self._edits.append(edit)
        self._schedule()

    def add_delete(self, message_id: str, channel_id: str, at: datetime) -> None:
        delete = MessageDelete(message_id, channel_id, at)
        if channel_id not in self.threads:
            self.stray(delete)
            return
        self._deletes.append(delete)
        self._schedule()

    def stray(self, event: WireMessage | MessageEdit | MessageDelete) -> None:
        """Keep an event of a channel not watched (yet), in memory, for ``STRAY_SECONDS``: the
        platform adapters hand over what is posted, edited or deleted in their server's
        channels, and the channel may be a prompt's thread about to be watched."""
        if isinstance(event, MessageEdit):
            channel = event.message.channel_id
        elif isinstance(event, MessageDelete):
            channel = event.channel_id
        else:
            channel = event[1]
        self._strays.append((time.monotonic(), channel, event))

    def _adopt(self, threads: Iterable[str]) -> None:
        """Queue what was kept of ``threads`` while they were not watched, in arrival order."""
        wanted = set(threads)
        if not wanted or not self._strays:
            return
        horizon = time.monotonic() - STRAY_SECONDS
        kept: deque[tuple[float, str, WireMessage | MessageEdit | MessageDelete]] = deque(
            maxlen=STRAY_MAX
        )
        adopted = 0
        for item in self._strays:
            at, channel, event = item
            if at < horizon:
                continue
            if channel not in wanted:
                kept.append(item)
                continue
            adopted += 1
            if isinstance(event, MessageEdit):
                self._edits.append(event)
            elif isinstance(event, MessageDelete):
                self._deletes.append(event)
            else:
                self._messages.append(event)
        self._strays = kept
        if adopted:
            with contextlib.suppress(RuntimeError):  # no loop running: the next flush writes it
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
        await self._credit_closed()
        if self.pending and not self._closed and self._timer is None:
            self._timer = loop.call_later(self.max_delay, self._kick)

    async def _flush_once(self) -> bool:
        """Write what is queued, one transaction at a time: at least one batch, and on, as long
        as a full batch is queued behind it. False if the database refused (kept to retry)."""
        async with self._lock:
            if self._writer is None:
                return await self._write_in_turn()
            try:
                taken = await self._take()
            except Exception as exc:
                self._refused(exc, 0)
                return False
            if taken is None:
                return True
            if not await self._write(taken):
                self._put_back(taken)
                return False
            return True

    async def _take(self) -> _Taken | None:
        """The next batch off the queue, with what its rows are judged by (None: nothing).

        A backlog is written in bigger transactions: fewer commits, same safety. If the close
        times cannot be read, the batch goes back to the front of the queue and this raises.
        """
        messages, self._messages = (
            self._messages[: self.max_batch],
            self._messages[self.max_batch :],
        )
        edits, self._edits = self._edits, []
        deletes, self._deletes = self._deletes, []
        if not (messages or edits or deletes):
            return None
        taken = _Taken(messages, edits, deletes, dict(self.threads), frozenset(self._read_through))
        try:
            taken.close_times = await self._close_times_now(set(taken.threads.values()))
        except Exception:
            self._put_back(taken)
            raise
        return taken

    async def _write_in_turn(self) -> bool:
        """The event loop's own path (no writer process): while one batch's transaction is
        with the database, the next batch is prepared, in slices between which the loop lets
        that transaction move on. Transactions still run one after the other, each moving
        the cursors with its own rows, so nothing about durability or order changes; a batch
        prepared while an earlier one fails goes back to the queue behind it."""
        prepared, current = await self._take_prepared()
        if not prepared:
            return False
        if current is None:
            return True
        try:
            # One connection for the run of batches: no pool checkout and liveness ping per
            # batch (a round trip each, behind a busy loop); each batch is its own transaction.
            async with self.db.engine.connect() as connection:
                while current is not None:
                    writing = asyncio.get_running_loop().create_task(
                        self._write(current, connection)
                    )
                    following: _Taken | None = None
                    if len(self._messages) >= self.max_rows:
                        _, following = await self._take_prepared()
                    if not await writing:
                        # Both back at the front, in the gateway's order.
                        if following is not None:
                            self._put_back(following)
                        self._put_back(current)
                        return False
                    current = following
        except Exception as exc:  # no connection (or it failed to close): kept to retry
            kept = 0
            if current is not None:
                kept = len(current.messages)
                self._put_back(current)
            self._refused(exc, kept)
            return False
        return True

    async def _take_prepared(self) -> tuple[bool, _Taken | None]:
        """The next batch off the queue with its rows built (None: the queue is empty). If
        taking or building fails, the batch goes back to the front of the queue, the failure
        is counted, and the answer is ``(False, None)``."""
        taken: _Taken | None = None
        try:
            taken = await self._take()
            if taken is not None:
                await self._prepare(taken)
        except Exception as exc:
            if taken is not None:
                self._put_back(taken)
            self._refused(exc, 0)
            return False, None
        return True, taken

    async def _prepare(self, taken: _Taken) -> None:
        """Build the batch's rows on the loop, ``PREPARE_SLICE`` messages at a time."""
        options = self._options(taken)
        sqlite = self.db.dialect == "sqlite"
        parts: list[recording.PreparedBatch] = []
        messages = taken.messages
        for start in range(0, max(len(messages), 1), PREPARE_SLICE):
            first = start == 0
            parts.append(
                recording.prepare_batch(
                    taken.threads,
                    [recording.unwire(m) for m in messages[start : start + PREPARE_SLICE]],
                    taken.edits if first else (),
                    taken.deletes if first else (),
                    sqlite=sqlite,
                    **options,
                )
            )
            if start + PREPARE_SLICE < len(messages):
                await asyncio.sleep(0)
        taken.prepared = recording.merge_prepared(parts)

    def _options(self, taken: _Taken) -> recording.BatchOptions:
        return {
            "bot_user_id": self.bot_user_id(),
            "now": self.clock.now(),
            "people_cache": dict(self._people),
            "close_times": taken.close_times,
            "read_through": taken.read_through,
            "links": self.links,
        }

    async def _write(self, taken: _Taken, connection: AsyncConnection | None = None) -> bool:
        """One transaction (on ``connection`` when the loop writes a run of batches); False if
        the database refused it (the caller puts it back)."""
        try:
            if taken.prepared is not None:
                assert connection is not None
                async with (
                    AsyncSession(bind=connection, expire_on_commit=False) as session,
                    session.begin(),
                ):
                    result = await session.run_sync(
                        recording.write_batch_sync,
                        taken.threads,
                        taken.prepared,
                        people_cache=dict(self._people),
                        close_times=taken.close_times,
                    )
            else:
                # Everything after the queue happens in the writer: with a writer process, on
                # the other core. A partial of a module function, because it travels pickled.
                assert self._writer is not None
                write = functools.partial(
                    recording.record_wired_batch_sync,
                    threads=taken.threads,
                    messages=taken.messages,
                    edits=taken.edits,
                    deletes=taken.deletes,
                    **self._options(taken),
                )
                result = await self._writer.run(write)
        except Exception as exc:
            self._refused(exc, len(taken.messages))
            return False
        self.recorded += result.inserted
        self.batches += 1
        self._people.update(result.people)
        self._note_closed(taken)
        return True

    def _put_back(self, taken: _Taken) -> None:
        self._messages[:0] = taken.messages
        self._edits[:0] = taken.edits
        self._deletes[:0] = taken.deletes

    def _refused(self, exc: Exception, count: int) -> None:
        self.failures += 1
        if isinstance(exc, DatabaseFileMissing):  # an operator's move: wait for it
            log.warning("recording %d messages waits: %s", count, exc)
        else:
            log.error("recording %d messages failed; keeping them to retry", count, exc_info=exc)

    def _note_closed(self, taken: _Taken) -> None:
        """Remember the prompts past their close that this batch touched: their credits must
        follow what was just recorded (a late post, or one read back after the close)."""
        threads, close_times = taken.threads, taken.close_times
        touched = {threads.get(m[1]) for m in taken.messages}
        touched.update(threads.get(e.message.channel_id) for e in taken.edits)
        touched.update(threads.get(d.channel_id) for d in taken.deletes)
        now = self.clock.now()
        for prompt_id in touched:
            if prompt_id is None:
                continue
            close = close_times.closes.get(prompt_id)
            if close is None or close <= now:
                self._to_credit.add(prompt_id)

    async def _credit_closed(self) -> None:
        """Credit the ledger for what was recorded in closed prompts; kept to retry on failure."""
        if not self._to_credit:
            return
        async with self.ledger_lock:
            while self._to_credit:
                prompt_id = min(self._to_credit)
                try:
                    async with self.db.session() as session:
                        await scoring.follow_evidence(session, prompt_id, now=self.clock.now())
                except Exception:
                    log.exception("crediting prompt %s failed; it is retried later", prompt_id)
                    return
                self._to_credit.discard(prompt_id)

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

    async def flush(self) -> bool:
        """Write everything queued so far (tests, shutdown, before scoring); False if the
        database refused it three times (it stays queued)."""
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
                    return False
                await asyncio.sleep(self.retry_delay)
        await self._credit_closed()
        return True

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
        messages were read. Each thread read to the end is then read through."""
        return await self._read(chat, thread_ids, whole=False)

    async def reconcile(self, chat: ChatPort, thread_ids: Iterable[str] | None = None) -> int:
        """The backfill, plus what changed while nobody listened: each thread's whole history
        is read, so edits and deletions made while the bot was offline are recorded too (an
        edit by its own time, so once; a deletion at the time it is noticed), and so is any
        message not stored, wherever the cursor stands. A resumed session does not need this:
        the gateway replays what it missed. Returns how many messages were read."""
        return await self._read(chat, thread_ids, whole=True)

    async def _read(self, chat: ChatPort, thread_ids: Iterable[str] | None, *, whole: bool) -> int:
        wanted = self._wanted(thread_ids)
        if not wanted:
            return 0
        # Only a read that begins while the gateway delivers can leave a thread read through:
        # what is posted after it reaches the end arrives live.
        session_at_start = self._session if self._live else None
        for thread_id in wanted:
            self._reading[thread_id] = self._reading.get(thread_id, 0) + 1
        try:
            async with self.db.session() as session:
                after = await recording.cursors(session, wanted)
                stored = await recording.live_message_ids(session, wanted) if whole else {}
            read = 0
            complete: list[str] = []
            for thread_id in wanted:
                try:
                    if whole:
                        read += await self._read_whole(
                            chat, thread_id, stored.get(thread_id, set())
                        )
                    else:
                        async for message in chat.history(thread_id, after_id=after.get(thread_id)):
                            self._messages.append(recording.wire(message, ContributionVia.BACKFILL))
                            read += 1
                            if len(self._messages) >= self.max_rows:
                                await self._flush_once()
                except ChatError as exc:
                    # A partial read says nothing about deletions: none are inferred from it.
                    log.warning("cannot read the history of thread %s: %s", thread_id, exc)
                    continue
                complete.append(thread_id)
            if await self.flush() and session_at_start == self._session and self._live:
                self._read_through.update(t for t in complete if t in self.threads)
            return read
        finally:
            for thread_id in wanted:
                left = self._reading.get(thread_id, 1) - 1
                if left:
                    self._reading[thread_id] = left
                else:
                    self._reading.pop(thread_id, None)

    async def _read_whole(self, chat: ChatPort, thread_id: str, stored: set[str]) -> int:
        """Queue every message of the thread not stored, every edit, and every deletion."""
        read = 0
        seen: set[str] = set()
        async for message in chat.history(thread_id):
            read += 1
            seen.add(message.id)
            if message.id not in stored:
                self._messages.append(recording.wire(message, ContributionVia.BACKFILL))
            elif message.edited_at is not None:
                self._edits.append(MessageEdit(message))
            if len(self._messages) >= self.max_rows:
                await self._flush_once()
        now = self.clock.now()
        for gone in sorted(stored - seen):
            self._deletes.append(MessageDelete(gone, thread_id, now))
        return read

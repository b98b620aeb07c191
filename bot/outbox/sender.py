"""Sending: claimed messages go out concurrently, paced to the platform's rate, in order per
target, and every outcome is recorded in batches.

One run is a small pipeline. A producer takes over expired claims (each to be verified) and
claims due messages in batches, never more than a couple of batches ahead of the senders, so
no claim waits long enough to approach its lease. Up to ``concurrency`` senders work at once;
messages to one target (a person's DMs, a channel) go one at a time in id order, so the parts
of a long message arrive in order, while different targets go in parallel. Each request
passes a pacer set to the platform's published limit (discord.py still waits out any 429 and
queues per-route buckets; the pacer only keeps a mass send from running into them). Where the
platform also limits each channel (Slack: about one post a second per channel, DMs to different
people being different channels), each channel has a pacer of its own as well, and opening DMs
and reading history pass a third set to those methods' own limit (``bot.chat.RateLimits``). A
recorder writes results in batches, one transaction each, running the features' hooks there.

``drain`` stops claiming, hands back what has not started, and waits (bounded) for what is in
flight to be recorded: a clean stop leaves nothing claimed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.chat import ChatError, ChatErrorKind, ChatPort, Posted, RateLimits, marker_of
from bot.db.engine import Database
from bot.db.models import OutboxState
from bot.delivery import Delivery, Missed, reason_of
from bot.idle import wait_idle
from bot.outbox import policy, store
from bot.outbox.message import Outcome

log = logging.getLogger(__name__)
_T = TypeVar("_T")

__all__ = ["Outbox", "Report", "deliver", "new_worker_id"]

#: Messages claimed per transaction.
CLAIM_BATCH = 100
#: Results recorded per transaction, at most.
RECORD_BATCH = 200
#: Claim rounds per run, so one run cannot hold the sender forever.
MAX_CLAIMS = 500


def new_worker_id() -> str:
    """Host, pid and a random part: two processes (or two apps in one test) never share one."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


def _sent(job: store.Job, posted: Posted, via: str, note: str | None = None) -> store.Result:
    """A job whose message the platform accepted: where it now stands, and how it went."""
    return store.Result(
        job, "sent", channel_id=posted.channel_id, message_id=posted.message_id, via=via, note=note
    )


@dataclass
class Report:
    sent: int = 0
    recovered: int = 0
    fallbacks: int = 0
    failed: int = 0
    retrying: int = 0
    released: int = 0
    in_doubt: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


#: The share of the platform's limit the pacer uses: requests arrive with some jitter, and
#: commands' replies and history reads share the limit too.
PACE = 0.95


class Pacer:
    """Requests spaced to a rate, and never more than the rate's share in any rolling window.

    Even spacing alone is not enough: Discord's global limit is a fixed one-second window, and
    when the event loop stalls (a slow write, a busy machine) the sends whose slots passed
    meanwhile would all leave at once, landing in one window with that window's own share. The
    rolling count is kept from the moments sends actually leave, so a stall only delays them.
    A longer ``window`` (a per-minute limit) is a rolling count only: its share may go at once,
    as the platform allows bursts within it.
    """

    def __init__(self, per_second: float | None, *, window: float = 1.0) -> None:
        self.window = window
        self.interval = 1.0 / (per_second * PACE) if per_second and window <= 1.0 else 0.0
        self.per_window = max(1, int(per_second * window * PACE)) if per_second else 0
        self._next = 0.0
        self._sent: deque[float] = deque()

    async def wait(self) -> None:
        if not self.per_window:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)
        while True:
            now = loop.time()
            while self._sent and now - self._sent[0] >= self.window:
                self._sent.popleft()
            if len(self._sent) < self.per_window:
                self._sent.append(now)
                return
            await asyncio.sleep(self._sent[0] + self.window - now)


class Pacers:
    """The pacers one outbox passes: every request the overall one; a post or an edit its
    channel's one first (where the platform limits channels); a DM opening or a history read
    the lookups' one first (where the platform limits those methods)."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.overall = Pacer(limits.per_second)
        minute = limits.lookups_per_minute
        self.lookups = Pacer(minute / 60 if minute else None, window=60.0)
        self._channels: dict[str, Pacer] = {}

    async def send(self, channel_id: str) -> None:
        """Before a post or an edit in ``channel_id``."""
        if self.limits.per_channel_per_second:
            pacer = self._channels.get(channel_id)
            if pacer is None:
                pacer = self._channels[channel_id] = Pacer(self.limits.per_channel_per_second)
            await pacer.wait()
        await self.overall.wait()

    async def lookup(self) -> None:
        """Before opening a DM or reading a channel's history."""
        await self.lookups.wait()
        await self.overall.wait()


_inflight: set[asyncio.Future[Any]] = set()


def _settle(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _net(call: Awaitable[_T], seconds: float) -> _T:
    """A platform call that neither our timeout nor a cancellation interrupts.

    A request that has left may land whatever we do, so it is never cancelled: giving up on it
    only leaves the message claimed, for the lease recovery to verify. (Cancelling discord.py
    mid-request is unsafe as well: cancelled during a global 429 wait, its gate stays shut.)
    """
    task = asyncio.ensure_future(call)
    _inflight.add(task)
    task.add_done_callback(_inflight.discard)
    task.add_done_callback(_settle)
    return await asyncio.wait_for(asyncio.shield(task), seconds)


class Outbox:
    """Sends what the outbox table holds; one per process (``Application`` owns it)."""

    def __init__(
        self,
        db: Database,
        chat: ChatPort,
        *,
        clock: Callable[[], datetime],
        worker_id: str | None = None,
        concurrency: int = 50,
        limits: RateLimits | None = None,
        lease: timedelta = policy.LEASE,
        max_attempts: int = policy.MAX_ATTEMPTS,
    ) -> None:
        self.db = db
        self.chat = chat
        self.clock = clock
        self.worker = worker_id or new_worker_id()
        self.concurrency = max(1, concurrency)
        self.pacers = Pacers(limits or RateLimits())
        self.lease = lease
        self.max_attempts = max_attempts
        self._lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    async def run(self, now: datetime | None = None) -> Report:
        """Send everything due at ``now`` (the clock's time if None); one run at a time."""
        if self._closing:
            return Report()
        async with self._lock:
            if self._closing:
                return Report()
            self._idle.clear()
            try:
                when = now or self.clock()
                async with self.db.reading() as reader:
                    if not await store.has_work(reader, when):
                        return Report()
                return await _Run(self, when).go()
            finally:
                self._idle.set()

    async def next_due(self) -> datetime | None:
        async with self.db.session() as session:
            return await store.next_due(session)

    async def settle(
        self, keys: list[str], within: float
    ) -> dict[str, tuple[OutboxState, str | None]]:
        """Wait (at most ``within`` seconds) for these messages to be sent or given up, so a
        reply can say what happened; their states then (a command's commit already woke the
        sender). One still pending after ``within`` is reported pending."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            async with self.db.session() as session:
                found = await store.states(session, keys)
            settled = all(
                state not in (OutboxState.PENDING, OutboxState.CLAIMED)
                for state, _ in found.values()
            )
            if settled or loop.time() >= deadline or self._closing:
                return found
            await asyncio.sleep(0.05)

    async def delivery(self, keys: list[str], within: float = 1.5) -> Delivery:
        """``settle``, counted as a reply shows it (``bot.delivery``): told, missed, pending."""
        found = await self.settle(keys, within)
        told = pending = 0
        missed: list[Missed] = []
        for key in keys:
            state, error = found.get(key, (OutboxState.PENDING, None))
            if state is OutboxState.SENT:
                told += 1
            elif state in (OutboxState.FAILED, OutboxState.CANCELLED):
                missed.append(Missed("", reason_of(error or "")))
            else:
                pending += 1
        return Delivery(told, tuple(missed), pending)

    async def drain(self, within: float = 15.0) -> bool:
        """Stop claiming; wait for sends under way to be recorded. False if time ran out
        (what is still claimed is verified by the next process after its lease)."""
        self._closing = True
        return await wait_idle(
            self._idle,
            within,
            log=log,
            left_running="outbox: stopping with sends still under way (verified after the lease)",
        )


class _Run:
    """One pass: producer, senders and recorder (see the module docstring)."""

    def __init__(self, outbox: Outbox, now: datetime) -> None:
        self.o = outbox
        self.now = now
        self.report = Report()
        self.ready: asyncio.Queue[store.Job | None] = asyncio.Queue()
        self.waiting: dict[str, deque[store.Job]] = {}
        self.busy: set[str] = set()
        self.open_jobs = 0
        self.space = asyncio.Condition()
        self.results: asyncio.Queue[Any] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.claimed_at: dict[int, float] = {}
        self.crashed: BaseException | None = None

    async def go(self) -> Report:
        senders = [asyncio.create_task(self._sender()) for _ in range(self.o.concurrency)]
        recorder = asyncio.create_task(self._recorder())
        try:
            await self._produce()
        finally:
            async with self.space:
                await self.space.wait_for(lambda: self.open_jobs == 0)
            for _ in senders:
                self.ready.put_nowait(None)
            await asyncio.gather(*senders, return_exceptions=True)
            self.results.put_nowait(None)
            await asyncio.shield(recorder)
        if self.crashed is not None:
            raise self.crashed
        return self.report

    # ------------------------------------------------------------------ producer

    async def _atomic(self, work: Callable[[Any], Awaitable[_T]]) -> _T:
        """A transaction a cancellation cannot cut in half."""

        async def run() -> _T:
            async with self.o.db.session() as session:
                return await work(session)

        task = asyncio.ensure_future(run())
        _inflight.add(task)
        task.add_done_callback(_inflight.discard)
        return await asyncio.shield(task)

    async def _produce(self) -> None:
        o = self.o
        stale = await self._atomic(
            lambda s: store.take_over_expired(
                s, worker=o.worker, now=self.now, limit=CLAIM_BATCH * 5, lease=o.lease
            )
        )
        self._dispatch(stale)
        after = 0
        quiet_rounds = 0
        for _ in range(MAX_CLAIMS):
            if o.closing or self.crashed is not None:
                break
            async with self.space:
                await self.space.wait_for(lambda: self.open_jobs < 2 * o.concurrency)
            jobs = await self._atomic(
                lambda s, cursor=after: store.claim(  # type: ignore[misc]
                    s,
                    worker=o.worker,
                    now=self.now,
                    after_id=cursor,
                    limit=min(CLAIM_BATCH, 2 * o.concurrency),
                    lease=o.lease,
                )
            )
            if jobs:
                after = max(after, max(j.id for j in jobs))
                quiet_rounds = 0
                self._dispatch(jobs)
                continue
            # Nothing more now: once what is under way is recorded, look once more (a
            # feature's hook may have enqueued a follow-up, e.g. a note to the tutor).
            quiet_rounds += 1
            if quiet_rounds > 1:
                break
            async with self.space:
                await self.space.wait_for(lambda: self.open_jobs == 0)
            await self._flushed()

    async def _flushed(self) -> None:
        """Wait until the recorder has written everything handed to it."""
        done = self.loop.create_future()
        self.results.put_nowait(_Flush(done))
        await done

    def _dispatch(self, jobs: list[store.Job]) -> None:
        stamp = self.loop.time()
        for job in jobs:
            self.claimed_at[job.id] = stamp
            self.open_jobs += 1
            target = job.target
            if target in self.busy:
                self.waiting.setdefault(target, deque()).append(job)
            else:
                self.busy.add(target)
                self.ready.put_nowait(job)

    async def _finished(self, job: store.Job) -> None:
        target = job.target
        queue = self.waiting.get(target)
        if queue:
            self.ready.put_nowait(queue.popleft())
            if not queue:
                del self.waiting[target]
        else:
            self.busy.discard(target)
        async with self.space:
            self.open_jobs -= 1
            self.space.notify_all()

    # ------------------------------------------------------------------ senders

    async def _sender(self) -> None:
        while True:
            job = await self.ready.get()
            if job is None:
                return
            if self.crashed is not None:
                await self._finished(job)  # as after a real crash: left claimed
                continue
            try:
                result = await self._attempt(job)
            except Exception as exc:
                log.exception("outbox message %s: unexpected failure while sending", job.id)
                result = store.Result(
                    job, "error", error=f"unexpected error: {exc!r}", retryable=True
                )
            except BaseException as exc:
                # Dying mid-send (tests place a "crash" here): nothing is recorded for it, as
                # after a real crash; the run ends with it once the others are recorded.
                self.crashed = exc
                await self._finished(job)
                continue
            self.results.put_nowait(result)
            await self._finished(job)

    async def _attempt(self, job: store.Job) -> store.Result:
        o = self.o
        if job.unsendable is not None:
            return store.Result(job, "error", error=job.unsendable, retryable=False)
        started = self.claimed_at.get(job.id, self.loop.time())
        if o.closing or self.loop.time() - started > policy.start_deadline(o.lease):
            # Not started in time (a long queue, or stopping): hand it back untouched.
            return store.Result(job, "release")
        seconds = policy.send_timeout(o.lease)
        try:
            if job.verify and job.edit_of is None:
                try:
                    found = await self._find(job, seconds)
                except ChatError as exc:
                    # Whatever the refusal, unread is unknown: nothing is sent, it is tried
                    # again later (and given up on only after the attempts).
                    return store.Result(
                        job, "error", error=f"cannot verify: {exc}", retryable=True, unread=True
                    )
                if found is not None:
                    channel_id, message_id, via = found
                    log.info("outbox message %s: found already sent as %s", job.id, message_id)
                    return store.Result(
                        job,
                        "sent",
                        channel_id=channel_id,
                        message_id=message_id,
                        via=via,
                        note="recovered",
                        recovered=True,
                    )
            if job.edit_of is not None:
                assert job.channel_id is not None
                await o.pacers.send(job.channel_id)
                await _net(o.chat.edit(job.channel_id, job.edit_of, job.message), seconds)
                return store.Result(
                    job, "sent", channel_id=job.channel_id, message_id=job.edit_of, via="edit"
                )
            if job.user_id is not None:
                return await self._dm(job, seconds)
            assert job.channel_id is not None
            await o.pacers.send(job.channel_id)
            posted = await _net(o.chat.post(job.channel_id, job.message), seconds)
            return _sent(job, posted, "channel")
        except TimeoutError:
            log.warning(
                "outbox message %s: no answer within %.0f s; left claimed, so after the lease "
                "it is verified against the history and sent only if it never arrived",
                job.id,
                seconds,
            )
            return store.Result(job, "doubt")
        except ChatError as exc:
            return store.Result(job, "error", error=str(exc), retryable=exc.retryable)

    async def _dm_channel(self, job: store.Job, seconds: float) -> str:
        """The recipient's DM channel: stored, or opened now (one request) and learnt."""
        if job.dm_channel is not None:
            return job.dm_channel
        assert job.user_id is not None
        await self.o.pacers.lookup()
        channel = await _net(self.o.chat.dm_channel_id(job.user_id), seconds)
        job.dm_channel = job.learnt_dm = channel
        return channel

    async def _dm(self, job: store.Job, seconds: float) -> store.Result:
        o = self.o
        stored = job.dm_channel is not None
        channel = await self._dm_channel(job, seconds)
        try:
            await o.pacers.send(channel)
            posted = await _net(o.chat.post(channel, job.message), seconds)
        except ChatError as exc:
            if exc.kind is ChatErrorKind.NOT_FOUND and stored:
                # The stored channel is gone: open it again, once.
                job.dm_channel = None
                channel = await self._dm_channel(job, seconds)
                await o.pacers.send(channel)
                posted = await _net(o.chat.post(channel, job.message), seconds)
            elif (
                exc.kind in (ChatErrorKind.DM_CLOSED, ChatErrorKind.FORBIDDEN)
                and job.fallback is not None
                and job.fallback_channel is not None
            ):
                log.info("outbox message %s: DM refused (%s); falling back", job.id, exc.kind)
                await o.pacers.send(job.fallback_channel)
                posted = await _net(o.chat.post(job.fallback_channel, job.fallback), seconds)
                self.report.fallbacks += 1
                note = "DM closed (403): sent as a mention in the module channel"
                return _sent(job, posted, "fallback", note)
            else:
                raise
        return _sent(job, posted, "dm")

    async def _find(self, job: store.Job, seconds: float) -> tuple[str, str, str] | None:
        """Where an earlier attempt already delivered this message, if it did."""
        places: list[tuple[str, str, str | None]] = []
        if job.user_id is not None:
            channel = await self._dm_channel(job, seconds)
            places.append((channel, "dm", job.search_after.get("dm")))
            if job.fallback_channel is not None:
                places.append(
                    (job.fallback_channel, "fallback", job.search_after.get(job.fallback_channel))
                )
        elif job.channel_id is not None:
            places.append((job.channel_id, "channel", job.search_after.get(job.channel_id)))
        for channel_id, via, after in places:
            found = await _net(self._search(channel_id, after, job.marker), seconds)
            if found is not None:
                return channel_id, found, via
        return None

    async def _search(self, channel_id: str, after: str | None, marker: str) -> str | None:
        await self.o.pacers.lookup()
        async for message in self.o.chat.history(channel_id, after_id=after):
            if message.author_is_bot and marker_of(message.content) == marker:
                return message.id
        return None

    # ------------------------------------------------------------------ recorder

    async def _recorder(self) -> None:
        o = self.o
        finished = False
        while not finished:
            first = await self.results.get()
            batch: list[store.Result] = []
            flushes: list[_Flush] = []
            for item in [first, *_drain(self.results, RECORD_BATCH)]:
                if item is None:
                    finished = True
                elif isinstance(item, _Flush):
                    flushes.append(item)
                else:
                    batch.append(item)
            if batch:
                try:
                    outcomes = await self._atomic(
                        lambda s, b=batch: store.record(  # type: ignore[misc]
                            s, b, worker=o.worker, now=self.now, max_attempts=o.max_attempts
                        )
                    )
                except Exception:
                    log.exception(
                        "outbox: could not record %d result(s); they stay claimed and are "
                        "verified after the lease",
                        len(batch),
                    )
                    outcomes = []
                self._count(batch, outcomes)
            for flush in flushes:
                if not flush.done.done():
                    flush.done.set_result(None)

    def _count(self, batch: list[store.Result], outcomes: list[Outcome]) -> None:
        r = self.report
        failed = {x.id for x in outcomes if x.state is OutboxState.FAILED}
        sent = {x.id for x in outcomes if x.state is OutboxState.SENT}
        r.outcomes.extend(outcomes)
        for result in batch:
            job_id = result.job.id
            if job_id in sent:
                r.sent += 1
                if result.recovered:
                    r.recovered += 1
            elif job_id in failed:
                r.failed += 1
            elif result.what == "release":
                r.released += 1
            elif result.what == "doubt":
                r.in_doubt += 1
            elif result.what == "error":
                r.retrying += 1


@dataclass
class _Flush:
    done: asyncio.Future[None]


def _drain(queue: asyncio.Queue[Any], limit: int) -> list[Any]:
    items: list[Any] = []
    while len(items) < limit:
        try:
            items.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            break
    return items


async def deliver(
    db: Database,
    chat: ChatPort,
    now: datetime,
    *,
    concurrency: int = 50,
    limits: RateLimits | None = None,
) -> Report:
    """One run at ``now`` by a sender made for it (tests, and callers without an app)."""
    outbox = Outbox(
        db,
        chat,
        clock=lambda: now,
        concurrency=concurrency,
        limits=limits,
    )
    return await outbox.run(now)

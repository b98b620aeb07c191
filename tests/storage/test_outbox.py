"""The outbox on real databases (SQLite, and PostgreSQL when configured).

An in-memory chat port stands in for the platform, so a crash can be placed exactly (after a
message left, before it was recorded) and every request counted: what a user would notice is
a message missing, a message twice, parts out of order, or a DM that cost an extra request.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.access.identity import ChatUser
from bot.chat import (
    Button,
    ChatError,
    ChatErrorKind,
    ChatMessage,
    OutgoingMessage,
    Posted,
    RateLimits,
    marker_of,
    with_marker,
)
from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    Designation,
    DmChannel,
    Module,
    OutboxMessage,
    OutboxState,
    Person,
)
from bot.discord_links import DISCORD_LINKS
from bot.outbox import Message, Outbox, Outcome, store
from bot.outbox.policy import BACKOFF, LEASE, MAX_ATTEMPTS

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANNEL = "100"
BOT = ChatUser("1", "cohortbot", "cohortbot")


class Crash(BaseException):
    """The process dies here (not an Exception: nothing in the outbox may catch it)."""


@dataclass
class FakeChat:
    """Channels as lists of messages; DM channels are ``dm-<user>``; failures by marker."""

    links = DISCORD_LINKS

    channels: dict[str, list[ChatMessage]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    failures: Counter[str] = field(default_factory=Counter)
    crash_after: set[str] = field(default_factory=set)
    history_broken: bool = False
    delay: float = 0.0
    requests: int = 0
    opened: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(5000))
    sending: asyncio.Event = field(default_factory=asyncio.Event)

    async def _request(self) -> None:
        self.requests += 1
        self.in_flight += 1
        self.sending.set()
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        await self._request()
        marker = message.marker or ""
        if channel_id.startswith("dm-") and channel_id[3:] in self.closed:
            raise ChatError(ChatErrorKind.DM_CLOSED, "Cannot send messages to this user")
        if self.failures[marker] > 0:
            self.failures[marker] -= 1
            raise ChatError(ChatErrorKind.UNAVAILABLE, "HTTP 503: try later")
        mid = str(next(self._ids))
        self.channels.setdefault(channel_id, []).append(
            ChatMessage(mid, channel_id, None, BOT, True, with_marker(message), NOW)
        )
        if marker in self.crash_after:
            self.crash_after.discard(marker)
            raise Crash
        return Posted(channel_id, mid)

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None:
        await self._request()
        for i, m in enumerate(self.channels.get(channel_id, [])):
            if m.id == message_id:
                self.channels[channel_id][i] = m._replace(content=with_marker(message))

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted:
        raise AssertionError("the outbox opens the DM channel and posts there")

    async def dm_channel_id(self, user_id: str) -> str:
        await self._request()
        self.opened += 1
        return f"dm-{user_id}"

    async def create_thread(self, *args: Any, **kwargs: Any) -> str:
        raise NotImplementedError

    async def add_thread_member(self, thread_id: str, user_id: str) -> None:
        raise NotImplementedError

    async def set_thread_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def history(
        self, channel_id: str, *, after_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[ChatMessage]:
        if self.history_broken:
            raise ChatError(ChatErrorKind.UNAVAILABLE, "HTTP 503: history unavailable")
        for msg in list(self.channels.get(channel_id, [])):
            if after_id is None or int(msg.id) > int(after_id):
                yield msg

    def texts(self, channel_id: str) -> list[str]:
        return [m.content.splitlines()[0] for m in self.channels.get(channel_id, [])]

    def deliveries(self) -> Counter[str]:
        return Counter(marker_of(m.content) or "" for msgs in self.channels.values() for m in msgs)


@dataclass
class World:
    module_id: int
    people: list[int]  # person ids; person i has chat id str(300 + i)


async def _world(db: Database, people: int = 4, *, linked: bool = True) -> World:
    async with db.session() as s:
        cohort = Cohort(code="C", name="Cohort", timezone="Europe/London")
        s.add(cohort)
        await s.flush()
        module = Module(
            cohort_id=cohort.id,
            code="MATH70097",
            title="Supervised Learning",
            term="Spring",
            ects=Decimal(5),
            designation=Designation.CORE,
            channel_id=CHANNEL if linked else None,
        )
        persons = [
            Person(display_name=f"P{i}", platform_user_id=str(300 + i)) for i in range(people)
        ]
        s.add(module)
        s.add_all(persons)
        await s.flush()
        return World(module.id, [p.id for p in persons])


async def _enqueue(db: Database, messages: list[Message]) -> int:
    async with db.session() as s:
        return await outbox.enqueue(s, messages, NOW)


async def _rows(db: Database) -> dict[str, OutboxMessage]:
    async with db.session() as s:
        return {r.key: r for r in (await s.execute(select(OutboxMessage))).scalars()}


def _dm(key: str, person: int, text: str | None = None, **kw: Any) -> Message:
    return Message(key=key, feature="test", kind="dm", text=text or key, person_id=person, **kw)


def _post(key: str, **kw: Any) -> Message:
    return Message(key=key, feature="test", kind="post", text=key, channel_id=CHANNEL, **kw)


def _sender(db: Database, chat: FakeChat, worker: str = "w1", **kw: Any) -> Outbox:
    return Outbox(db, chat, clock=lambda: NOW, worker_id=worker, **kw)


async def test_a_key_enqueued_twice_is_sent_once(db: Database) -> None:
    world = await _world(db)
    assert await _enqueue(db, [_dm("a", world.people[0]), _post("b")]) == 2
    assert await _enqueue(db, [_dm("a", world.people[0], "changed")]) == 0
    chat = FakeChat()
    report = await outbox.deliver(db, chat, NOW)
    again = await outbox.deliver(db, chat, NOW + timedelta(minutes=5))
    assert (report.sent, again.sent) == (2, 0)
    assert chat.texts("dm-300") == ["a"]
    assert chat.texts(CHANNEL) == ["b"]
    rows = await _rows(db)
    assert {r.state for r in rows.values()} == {OutboxState.SENT}
    assert rows["a"].delivered_via == "dm" and rows["a"].sent_channel_id == "dm-300"
    # The marker is the row id only: nothing about who the message is for.
    assert chat.deliveries() == Counter({f"out {rows['a'].id}": 1, f"out {rows['b'].id}": 1})


async def test_a_known_dm_channel_makes_a_dm_one_request(db: Database) -> None:
    world = await _world(db)
    chat = FakeChat()
    await _enqueue(db, [_dm("first", world.people[1])])
    await outbox.deliver(db, chat, NOW)
    assert (chat.opened, chat.requests) == (1, 2)  # first-time recipient: open, then post
    async with db.session() as s:
        stored = await s.get(DmChannel, "301")
        assert stored is not None and stored.channel_id == "dm-301"
    await _enqueue(db, [_dm("second", world.people[1])])
    await outbox.deliver(db, chat, NOW)
    assert (chat.opened, chat.requests) == (1, 3)  # known: one request
    assert chat.texts("dm-301") == ["first", "second"]


async def test_parts_to_one_person_arrive_in_order_while_people_go_in_parallel(
    db: Database,
) -> None:
    world = await _world(db, people=40)
    await _enqueue(
        db,
        [
            _dm(f"p{p}:{i}", person, f"part {i}")
            for p, person in enumerate(world.people)
            for i in range(3)
        ],
    )
    chat = FakeChat(delay=0.05)
    started = time.monotonic()
    report = await outbox.deliver(db, chat, NOW, concurrency=50)
    elapsed = time.monotonic() - started
    assert report.sent == 120
    for p in range(40):
        assert chat.texts(f"dm-{300 + p}") == ["part 0", "part 1", "part 2"]
    # 160 requests of 50 ms one after another take 8 s; in parallel, in order per person,
    # they take about four request times.
    assert chat.most_in_flight >= 30
    assert elapsed < 4, elapsed


async def test_two_claimers_racing_send_each_message_once(db: Database) -> None:
    world = await _world(db, people=20)
    await _enqueue(
        db,
        [_dm(f"d{i}", world.people[i % 20]) for i in range(100)]
        + [_post(f"c{i}") for i in range(50)],
    )
    chat = FakeChat(delay=0.002)
    # Two processes: each its own connection pool on the same database.
    other = Database(str(db.engine.url.render_as_string(hide_password=False)))
    try:
        reports = await asyncio.gather(
            _sender(db, chat, "w1", concurrency=8).run(NOW),
            _sender(other, chat, "w2", concurrency=8).run(NOW),
        )
    finally:
        await other.dispose()
    assert sum(r.sent for r in reports) == 150
    assert set(chat.deliveries().values()) == {1}
    assert len(chat.deliveries()) == 150
    assert {r.state for r in (await _rows(db)).values()} == {OutboxState.SENT}


async def test_an_expired_claim_whose_message_arrived_is_recorded_not_sent_again(
    db: Database,
) -> None:
    """The sender dies after its DM left: that DM and the two posts it had claimed stay
    claimed. After the lease the DM is found in the history and recorded, the posts (never
    sent) are sent: each arrives once."""
    world = await _world(db)
    await _enqueue(db, [_dm("d", world.people[0]), _post("c0"), _post("c1")])
    rows = await _rows(db)
    chat = FakeChat(crash_after={f"out {rows['d'].id}"})
    with pytest.raises(Crash):
        await _sender(db, chat, "w1", concurrency=1).run(NOW)
    rows = await _rows(db)
    assert {r.state for r in rows.values()} == {OutboxState.CLAIMED}
    (first,) = chat.channels["dm-300"]

    # Within the lease nobody touches a claim (its sender may still be at work).
    await _sender(db, chat, "w2").run(NOW + timedelta(minutes=1))
    assert (await _rows(db))["d"].state is OutboxState.CLAIMED

    report = await _sender(db, chat, "w2").run(NOW + LEASE + timedelta(seconds=1))
    rows = await _rows(db)
    assert {r.state for r in rows.values()} == {OutboxState.SENT}
    assert chat.deliveries() == Counter({f"out {r.id}": 1 for r in rows.values()})
    assert (report.sent, report.recovered) == (3, 1)
    assert rows["d"].last_error == "recovered" and rows["d"].delivered_via == "dm"
    assert rows["d"].sent_message_id == first.id
    assert rows["c0"].last_error is None


async def test_an_expired_claim_that_never_left_is_sent_once(db: Database) -> None:
    world = await _world(db)
    await _enqueue(db, [_dm("d", world.people[0])])
    async with db.session() as s:  # a sender claimed it, then died before sending
        await s.execute(
            update(OutboxMessage).values(
                state=OutboxState.CLAIMED,
                claimed_by="dead",
                claimed_at=NOW,
                lease_until=NOW + LEASE,
                attempts=1,
            )
        )
    chat = FakeChat()
    report = await _sender(db, chat).run(NOW + LEASE + timedelta(seconds=1))
    assert (report.sent, report.recovered) == (1, 0)
    assert chat.texts("dm-300") == ["d"]
    row = (await _rows(db))["d"]
    assert row.state is OutboxState.SENT and row.last_error is None and row.attempts == 2


async def test_unreadable_history_sends_nothing_until_it_can_be_checked(db: Database) -> None:
    world = await _world(db)
    await _enqueue(db, [_dm("d", world.people[0])])
    rows = await _rows(db)
    chat = FakeChat(crash_after={f"out {rows['d'].id}"})
    with pytest.raises(Crash):
        await outbox.deliver(db, chat, NOW)
    chat.history_broken = True
    later = NOW + LEASE + timedelta(seconds=1)
    await outbox.deliver(db, chat, later)
    row = (await _rows(db))["d"]
    assert row.state is OutboxState.PENDING and row.verify
    assert chat.deliveries()[f"out {row.id}"] == 1
    chat.history_broken = False
    await outbox.deliver(db, chat, later + BACKOFF[-1])
    row = (await _rows(db))["d"]
    assert row.state is OutboxState.SENT and row.last_error == "recovered"
    assert chat.deliveries()[f"out {row.id}"] == 1


failed_seen: list[Outcome] = []
sent_seen: list[Outcome] = []


async def _on_failed(session: AsyncSession, outcome: Outcome) -> None:
    failed_seen.append(outcome)
    # A hook may enqueue a follow-up in the same transaction (e.g. a note to the tutor).
    await outbox.enqueue(
        session,
        [
            Message(
                key=f"note:{outcome.id}",
                feature="notes",
                kind="note",
                text=f"could not deliver {outcome.key}",
                channel_id=CHANNEL,
            )
        ],
        NOW,
    )


async def _on_sent(session: AsyncSession, outcome: Outcome) -> None:
    sent_seen.append(outcome)


outbox.register("hooked", sent=_on_sent, failed=_on_failed)


async def test_failures_back_off_then_give_up_and_the_feature_reacts(db: Database) -> None:
    failed_seen.clear()
    sent_seen.clear()
    world = await _world(db)
    flaky = Message(key="flaky", feature="hooked", kind="x", text="flaky", channel_id=CHANNEL)
    steady = Message(
        key="steady", feature="hooked", kind="x", text="steady", channel_id=CHANNEL, ref_id=7
    )
    closed = Message(key="closed", feature="hooked", kind="x", text="hi", person_id=world.people[2])
    await _enqueue(db, [flaky, steady, closed])
    rows = await _rows(db)
    chat = FakeChat(failures=Counter({f"out {rows['flaky'].id}": 99}), closed={"302"})
    now = NOW
    first = await outbox.deliver(db, chat, now)
    assert (first.sent, first.retrying, first.failed) == (2, 1, 1)  # steady + the tutor note
    assert [o.key for o in sent_seen] == ["steady"] and sent_seen[0].ref_id == 7
    assert [(o.key, o.refused) for o in failed_seen] == [("closed", True)]
    assert "could not deliver closed" in chat.texts(CHANNEL)
    row = (await _rows(db))["flaky"]
    assert row.state is OutboxState.PENDING and row.verify
    assert row.not_before == now + BACKOFF[0]
    # Not before its backoff.
    assert (await outbox.deliver(db, chat, now + BACKOFF[0] / 2)).retrying == 0
    for attempt in range(1, MAX_ATTEMPTS):
        now = now + BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
        await outbox.deliver(db, chat, now)
    row = (await _rows(db))["flaky"]
    assert row.state is OutboxState.FAILED and row.attempts == MAX_ATTEMPTS
    assert row.last_error is not None and row.last_error.startswith("gave up after 6 attempts")
    assert [(o.key, o.refused) for o in failed_seen][-1] == ("flaky", False)
    assert chat.deliveries()[f"out {row.id}"] == 0


async def test_a_refused_dm_falls_back_to_the_module_channel_with_a_mention(
    db: Database,
) -> None:
    world = await _world(db)
    await _enqueue(
        db,
        [
            _dm(
                "notice",
                world.people[1],
                "Your extension was granted.",
                module_id=world.module_id,
                fallback_text="<@301>, you have a notice: check `/calendar`.",
                fallback_buttons=(Button("Open", "cb:open"),),
            )
        ],
    )
    chat = FakeChat(closed={"301"})
    report = await outbox.deliver(db, chat, NOW)
    assert (report.sent, report.fallbacks) == (1, 1)
    assert chat.texts(CHANNEL) == ["<@301>, you have a notice: check `/calendar`."]
    row = (await _rows(db))["notice"]
    assert row.delivered_via == "fallback" and row.sent_channel_id == CHANNEL


async def test_a_module_post_waits_for_its_channel_without_using_attempts(db: Database) -> None:
    world = await _world(db, linked=False)
    await _enqueue(
        db, [Message(key="m", feature="t", kind="k", text="hello", module_id=world.module_id)]
    )
    chat = FakeChat()
    assert (await outbox.deliver(db, chat, NOW)).sent == 0
    row = (await _rows(db))["m"]
    assert (row.state, row.attempts) == (OutboxState.PENDING, 0)
    async with db.session() as s:
        await s.execute(update(Module).values(channel_id=CHANNEL))
    assert (await outbox.deliver(db, chat, NOW)).sent == 1
    assert chat.texts(CHANNEL) == ["hello"]


async def test_an_unlinked_person_fails_at_once_with_a_reason_a_tutor_can_act_on(
    db: Database,
) -> None:
    world = await _world(db)
    async with db.session() as s:
        await s.execute(
            update(Person).where(Person.id == world.people[3]).values(platform_user_id=None)
        )
    await _enqueue(db, [_dm("x", world.people[3])])
    report = await outbox.deliver(db, FakeChat(), NOW)
    row = (await _rows(db))["x"]
    assert report.failed == 1 and row.state is OutboxState.FAILED
    assert row.last_error == outbox.NOT_LINKED


async def test_drain_lets_sends_under_way_finish_and_claims_nothing_more(db: Database) -> None:
    world = await _world(db, people=10)
    await _enqueue(db, [_dm(f"d{i}", world.people[i]) for i in range(10)])
    chat = FakeChat(delay=0.2)
    sender = _sender(db, chat, concurrency=2)
    run = asyncio.create_task(sender.run(NOW))
    async with asyncio.timeout(30):  # a send under way, however slow the machine
        await chat.sending.wait()
    assert await sender.drain(5)
    report = await run
    rows = await _rows(db)
    states = Counter(r.state for r in rows.values())
    assert states[OutboxState.CLAIMED] == 0
    assert 1 <= report.sent < 10
    assert states[OutboxState.SENT] == report.sent
    assert states[OutboxState.PENDING] == 10 - report.sent
    assert (await sender.run(NOW)).sent == 0  # a drained sender starts nothing
    # Handed back untouched: no attempt used.
    assert {r.attempts for r in rows.values() if r.state is OutboxState.PENDING} == {0}


async def test_the_pacer_keeps_to_the_platform_rate(db: Database) -> None:
    world = await _world(db, people=30)
    async with db.session() as s:
        s.add_all(
            DmChannel(platform_user_id=str(300 + i), channel_id=f"dm-{300 + i}") for i in range(30)
        )
    await _enqueue(db, [_dm(f"d{i}", world.people[i]) for i in range(30)])
    chat = FakeChat()
    started = time.monotonic()
    report = await outbox.deliver(db, chat, NOW, limits=RateLimits(per_second=60))
    elapsed = time.monotonic() - started
    assert report.sent == 30 and chat.opened == 0
    assert elapsed >= 29 / 60 * 0.95, elapsed


async def test_an_edit_replaces_the_message_and_is_never_verified(db: Database) -> None:
    await _world(db)
    await _enqueue(db, [_post("card")])
    chat = FakeChat()
    await outbox.deliver(db, chat, NOW)
    card = (await _rows(db))["card"]
    await _enqueue(
        db,
        [
            Message(
                key="card:edit",
                feature="t",
                kind="edit",
                text="card, cancelled",
                channel_id=CHANNEL,
                edit_of=card.sent_message_id,
                marker=card.marker or f"out {card.id}",
            )
        ],
    )
    await outbox.deliver(db, chat, NOW)
    assert chat.texts(CHANNEL) == ["card, cancelled"]
    assert chat.deliveries() == Counter({f"out {card.id}": 1})


async def test_the_upgrade_moves_the_peer_outbox_and_its_old_markers_still_count(
    empty_db: Database,
) -> None:
    """A review request claimed by a process running the old version, whose DM had arrived,
    and one still pending: after the upgrade the first is recognised by its old marker and
    recorded, the second is sent once, with its button and the submission's file."""
    from sqlalchemy import JSON, bindparam, text

    from bot.db.migrate import upgrade
    from bot.db.models import PeerExercise
    from bot.db.types import UTCDateTime

    db = empty_db
    await upgrade(db, "0004")
    world = await _world(db)
    async with db.session() as s:
        s.add(
            PeerExercise(
                id=1,
                module_id=world.module_id,
                title="E",
                brief="b",
                submission_due_at=NOW,
                review_due_at=NOW + timedelta(days=1),
                rubric={},
            )
        )
        await s.flush()
        for row_id, status, payload in (
            (7, "claimed", '{"text": "Please review A"}'),
            (
                8,
                "pending",
                '{"text": "Please review B", "button": {"label": "Review", "custom_id": '
                '"cb:r:1"}, "file": {"submission_id": 1, "filename": "B.pdf"}}',
            ),
        ):
            await s.execute(
                text(
                    "INSERT INTO peer_outbox (id, dedupe_key, exercise_id, kind, person_id, "
                    "payload, status, attempts, claimed_at, created_at) VALUES "
                    "(:id, :k, 1, 'assignment-part', :p, :payload, :st, :n, :c, :t)"
                ).bindparams(
                    bindparam("c", type_=UTCDateTime()),
                    bindparam("t", type_=UTCDateTime()),
                    bindparam("payload", type_=JSON()),
                ),
                {
                    "id": row_id,
                    "k": f"assign:{row_id}:0",
                    "p": world.people[0],
                    "payload": json.loads(payload),
                    "st": status,
                    "n": 1 if status == "claimed" else 0,
                    "c": NOW if status == "claimed" else None,
                    "t": NOW,
                },
            )
    chat = FakeChat()
    # The old version sent row 7 and died before recording it.
    await chat.post("dm-300", OutgoingMessage("Please review A", marker="peer 7"))
    await upgrade(db)
    async with db.session() as s:
        tables = await s.run_sync(
            lambda sync: sync.connection().dialect.get_table_names(sync.connection())
        )
    assert "peer_outbox" not in tables
    rows = await _rows(db)
    assert set(rows) == {"peer:assign:7:0", "peer:assign:8:0"}
    assert rows["peer:assign:7:0"].marker == "peer 7"

    async def submission(session: AsyncSession, ref: int) -> bytes | None:
        return b"pdf" if ref == 1 else None

    outbox.register_files("peer_submission", submission)
    await outbox.deliver(db, chat, NOW + LEASE + timedelta(seconds=1))
    assert chat.texts("dm-300") == ["Please review A", "Please review B"]
    rows = await _rows(db)
    assert {r.state for r in rows.values()} == {OutboxState.SENT}
    assert rows["peer:assign:7:0"].last_error == "recovered"


async def test_a_sender_knows_when_a_run_would_find_nothing(db: Database) -> None:
    """``has_work`` (checked before each run, one query) answers as the run would: a message
    due, or a claim whose lease ended; not a message due later, nor a claim still leased."""
    world = await _world(db)

    async def work(at: datetime) -> bool:
        async with db.reading() as reader:
            return await store.has_work(reader, at)

    assert not await work(NOW)
    later = NOW + timedelta(hours=1)
    await _enqueue(db, [_dm("later", world.people[0], not_before=later)])
    assert not await work(NOW) and await work(later)
    await _enqueue(db, [_dm("now", world.people[1])])
    assert await work(NOW)
    async with db.session() as s:  # both claimed by a sender that then died
        await s.execute(
            update(OutboxMessage).values(
                state=OutboxState.CLAIMED, claimed_by="dead", claimed_at=NOW, lease_until=later
            )
        )
    assert not await work(NOW)
    assert await work(later + timedelta(seconds=1))
    report = await _sender(db, FakeChat()).run(NOW)  # nothing to do now: nothing happens
    assert report.sent == 0 and {r.state for r in (await _rows(db)).values()} == {
        OutboxState.CLAIMED
    }

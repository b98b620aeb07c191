"""The notice engine on real databases (SQLite, and PostgreSQL when configured).

A small in-memory chat stands in for the platform (it is the chat *port*, not discord.py), so a
crash can be placed exactly: after the message left but before the send was recorded, or just
after the claim.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.access.identity import ChatUser
from bot.calendar import messages as M
from bot.calendar import planning as P
from bot.calendar.engine import EngineConfig, next_due_at, run_due
from bot.chat import (
    ChatError,
    ChatErrorKind,
    ChatMessage,
    OutgoingMessage,
    Posted,
    with_marker,
)
from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    Designation,
    Module,
    Notice,
    NoticeAudience,
    NoticeStatus,
    OutboxMessage,
    OutboxState,
    Person,
)
from bot.discord_links import DISCORD_LINKS
from bot.outbox.store import next_due as outbox_next_due

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANNEL = "100"
ROLE = "200"
BOT = ChatUser("1", "cohortbot", "cohortbot")


class Crash(BaseException):
    """The process dies here (not an Exception: nothing in the engine may catch it)."""


def notice_id_of(text: str) -> int:
    return int(text.rstrip().splitlines()[-1].rsplit(" ", 1)[1])


@dataclass
class FakeChat:
    """Channels as lists of messages; failures and crashes planned per notice id."""

    links = DISCORD_LINKS

    channels: dict[str, list[ChatMessage]] = field(default_factory=dict)
    closed_dms: set[str] = field(default_factory=set)
    crash_after_send: set[int] = field(default_factory=set)
    crash_before_send: set[int] = field(default_factory=set)
    failures: Counter[int] = field(default_factory=Counter)
    failure_kind: ChatErrorKind = ChatErrorKind.UNAVAILABLE
    history_broken: bool = False
    mentions: dict[str, tuple[str | None, tuple[str, ...]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(5000))

    def _store(self, channel_id: str, message: OutgoingMessage) -> Posted:
        if channel_id.startswith("dm-") and channel_id.removeprefix("dm-") in self.closed_dms:
            raise ChatError(ChatErrorKind.DM_CLOSED, "Cannot send messages to this user")
        nid = notice_id_of(with_marker(message))
        if nid in self.crash_before_send:
            self.crash_before_send.discard(nid)
            raise Crash
        if self.failures[nid] > 0:
            self.failures[nid] -= 1
            raise ChatError(self.failure_kind, "HTTP 503: try later")
        mid = str(next(self._ids))
        self.channels.setdefault(channel_id, []).append(
            ChatMessage(
                id=mid,
                channel_id=channel_id,
                guild_id=None,
                author=BOT,
                author_is_bot=True,
                content=with_marker(message),
                created_at=NOW,
            )
        )
        self.mentions[mid] = (message.mention_role_id, message.mention_user_ids)
        if nid in self.crash_after_send:
            self.crash_after_send.discard(nid)
            raise Crash
        return Posted(channel_id, mid)

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        return self._store(channel_id, message)

    async def edit(self, channel_id: str, message_id: str, message: OutgoingMessage) -> None:
        return None

    async def dm(self, user_id: str, message: OutgoingMessage) -> Posted:
        if user_id in self.closed_dms:
            raise ChatError(ChatErrorKind.DM_CLOSED, "Cannot send messages to this user")
        return self._store(f"dm-{user_id}", message)

    async def dm_channel_id(self, user_id: str) -> str:
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

    def deliveries(self) -> Counter[int]:
        return Counter(notice_id_of(m.content) for msgs in self.channels.values() for m in msgs)


@dataclass
class Fixture:
    module_id: int
    people: list[int]


async def _world(db: Database) -> Fixture:
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
            channel_id=CHANNEL,
            role_id=ROLE,
        )
        people = [Person(display_name=f"P{i}", platform_user_id=str(300 + i)) for i in range(4)]
        s.add(module)
        s.add_all(people)
        await s.flush()
        return Fixture(module.id, [p.id for p in people])


async def _add(db: Database, rows: list[P.NoticeRow]) -> list[int]:
    async with db.session() as s:
        await P.insert_notices(s, rows)
        keys = [r.dedupe_key for r in rows]
        found = (
            await s.execute(select(Notice.id, Notice.dedupe_key).where(Notice.dedupe_key.in_(keys)))
        ).all()
    by_key = {k: i for i, k in found}
    return [by_key[k] for k in keys]


def _channel(world: Fixture, key: str, due: datetime = NOW, **kw: Any) -> P.NoticeRow:
    return P.immediate(
        key=key,
        kind=M.FEEDBACK_RELEASED,
        audience=NoticeAudience.CHANNEL,
        module_id=world.module_id,
        now=due,
        payload={"title": key, "module": "MATH70097"},
        **kw,
    )


def _dm(world: Fixture, key: str, person: int, kind: str = M.EXTENSION_GRANTED) -> P.NoticeRow:
    return P.immediate(
        key=key,
        kind=kind,
        audience=NoticeAudience.PERSON,
        module_id=world.module_id,
        now=NOW,
        person_id=world.people[person],
        payload={
            "title": key,
            "module": "MATH70097",
            "due_at": (NOW + timedelta(days=2)).isoformat(),
            "was_at": NOW.isoformat(),
            "reason_ref": "MC-1",
            "item_at": (NOW + timedelta(hours=1)).isoformat(),
            "offset_s": 3600,
        },
    )


async def _messages(db: Database) -> list[OutboxMessage]:
    """The outbox's messages (each notice handed over is one, ``ref_id`` its id)."""
    async with db.session() as s:
        return list((await s.execute(select(OutboxMessage))).scalars())


async def _statuses(db: Database) -> dict[int, Notice]:
    async with db.session() as s:
        return {n.id: n for n in (await s.execute(select(Notice))).scalars()}


CONFIG = EngineConfig(worker_id="w1")


async def test_crash_after_send_is_recorded_from_history_not_sent_again(db: Database) -> None:
    world = await _world(db)
    ids = await _add(db, [_channel(world, f"c{i}") for i in range(3)] + [_dm(world, "d", 0)])
    chat = FakeChat(crash_after_send={ids[1], ids[3]})
    with pytest.raises(Crash):
        await run_due(db, chat, now=NOW, config=CONFIG)
    rows = await _statuses(db)
    assert rows[ids[1]].status is NoticeStatus.CLAIMED

    # Within the lease nobody touches a claimed notice (its claimer may still be sending).
    other = EngineConfig(worker_id="w2")
    await run_due(db, chat, now=NOW + timedelta(minutes=1), config=other)
    assert (await _statuses(db))[ids[1]].status is NoticeStatus.CLAIMED

    report = await run_due(db, chat, now=NOW + timedelta(minutes=3), config=other)
    rows = await _statuses(db)
    assert {rows[i].status for i in ids} == {NoticeStatus.SENT}
    assert chat.deliveries() == {i: 1 for i in ids}
    assert report.recovered >= 1
    assert rows[ids[3]].delivered_via == "dm" and rows[ids[3]].last_error == "recovered"


async def test_crash_before_send_is_sent_once_after_the_lease(db: Database) -> None:
    world = await _world(db)
    ids = await _add(db, [_channel(world, f"c{i}") for i in range(4)])
    chat = FakeChat(crash_before_send={ids[0]})
    with pytest.raises(Crash):
        await run_due(db, chat, now=NOW, config=CONFIG)
    await run_due(db, chat, now=NOW + timedelta(minutes=3), config=CONFIG)
    assert chat.deliveries() == {i: 1 for i in ids}
    rows = await _statuses(db)
    assert rows[ids[0]].late is False  # claimed on time; only the claim's holder died
    assert rows[ids[0]].attempts == 2
    assert rows[ids[0]].last_error is None  # verified absent, then sent (not "recovered")


async def test_unreadable_history_means_no_resend_until_it_can_be_checked(db: Database) -> None:
    world = await _world(db)
    (nid,) = await _add(db, [_channel(world, "c")])
    chat = FakeChat(crash_after_send={nid})
    with pytest.raises(Crash):
        await run_due(db, chat, now=NOW, config=CONFIG)
    chat.history_broken = True
    await run_due(db, chat, now=NOW + timedelta(minutes=3), config=CONFIG)
    row = (await _statuses(db))[nid]
    assert row.status is NoticeStatus.CLAIMED  # the outbox's: its message waits, verify first
    (message,) = await _messages(db)
    assert message.state is OutboxState.PENDING and message.verify
    assert chat.deliveries() == {nid: 1}
    chat.history_broken = False
    await run_due(db, chat, now=NOW + timedelta(minutes=10), config=CONFIG)
    assert (await _statuses(db))[nid].status is NoticeStatus.SENT
    assert chat.deliveries() == {nid: 1}


async def test_failures_back_off_without_blocking_others_then_give_up(db: Database) -> None:
    world = await _world(db)
    ids = await _add(db, [_channel(world, f"c{i}") for i in range(3)])
    flaky, hopeless = ids[0], ids[1]
    chat = FakeChat(failures=Counter({flaky: 1, hopeless: 100}))
    config = EngineConfig(worker_id="w1", max_attempts=3)
    report = await run_due(db, chat, now=NOW, config=config)
    assert report.sent == 1 and report.retrying == 2
    retries = {m.ref_id: m for m in await _messages(db)}
    assert retries[flaky].not_before == NOW + timedelta(seconds=30)
    async with db.session() as s:
        assert await next_due_at(s, config.lease) is None  # the engine's part is done
        assert await outbox_next_due(s) == NOW + timedelta(seconds=30)

    await run_due(db, chat, now=NOW + timedelta(seconds=29), config=config)
    assert chat.deliveries()[flaky] == 0
    await run_due(db, chat, now=NOW + timedelta(seconds=30), config=config)
    rows = await _statuses(db)
    assert rows[flaky].status is NoticeStatus.SENT and rows[flaky].late is False
    retries = {m.ref_id: m for m in await _messages(db)}
    assert retries[hopeless].not_before == NOW + timedelta(seconds=30) + timedelta(minutes=2)
    report = await run_due(db, chat, now=NOW + timedelta(minutes=3), config=config)
    assert report.failed == 1
    rows = await _statuses(db)
    assert rows[hopeless].status is NoticeStatus.FAILED
    assert "gave up after 3 attempts" in (rows[hopeless].last_error or "")
    assert chat.deliveries() == {ids[0]: 1, ids[2]: 1}


async def test_a_refusal_that_retrying_cannot_fix_fails_at_once(db: Database) -> None:
    world = await _world(db)
    (nid,) = await _add(db, [_channel(world, "c")])
    chat = FakeChat(failures=Counter({nid: 1}), failure_kind=ChatErrorKind.FORBIDDEN)
    outcomes: list[str] = []
    report = await run_due(db, chat, now=NOW, config=CONFIG, on_outcome=outcomes.append)
    assert report.failed == 1 and outcomes == ["failed"]
    assert (await _statuses(db))[nid].status is NoticeStatus.FAILED


async def test_closed_dm_falls_back_to_a_mention_private_matters_stay_private(
    db: Database,
) -> None:
    world = await _world(db)
    ids = await _add(
        db,
        [
            _dm(world, "extension", 0),
            _dm(world, "reminder", 0, kind=M.DEADLINE_NOTICE),
            _dm(world, "open", 1, kind=M.DEADLINE_NOTICE),
        ],
    )
    chat = FakeChat(closed_dms={"300"})
    report = await run_due(db, chat, now=NOW, config=CONFIG)
    assert report.fallbacks == 2
    rows = await _statuses(db)
    assert [rows[i].delivered_via for i in ids] == ["fallback", "fallback", "dm"]
    assert "DM closed (403)" in (rows[ids[0]].last_error or "")
    posts = chat.channels[CHANNEL]
    private = next(m for m in posts if notice_id_of(m.content) == ids[0])
    assert "private message" in private.content and "MC-1" not in private.content
    reminder = next(m for m in posts if notice_id_of(m.content) == ids[1])
    assert reminder.content.startswith("<@300>") and "due in 1 hour" in reminder.content
    assert chat.mentions[reminder.id] == (None, ("300",))


async def test_catch_up_late_superseded_and_useless(db: Database) -> None:
    world = await _world(db)
    item = NOW + timedelta(hours=2)

    def reminder(offset: timedelta, key: str, until: datetime) -> P.NoticeRow:
        return P.NoticeRow(
            dedupe_key=f"{key}:{offset.total_seconds()}",
            group_key=key,
            kind=M.DEADLINE_NOTICE,
            audience=NoticeAudience.CHANNEL,
            due_at=item - offset,
            useful_until=until,
            module_id=world.module_id,
            payload={
                "title": key,
                "module": "MATH70097",
                "item_at": item.isoformat(),
                "offset_s": int(offset.total_seconds()),
            },
        )

    ids = await _add(
        db,
        [
            reminder(timedelta(hours=24), "essay", item),
            reminder(timedelta(hours=3), "essay", item),
            reminder(timedelta(hours=1), "essay", item),
            reminder(timedelta(hours=5), "gone", NOW - timedelta(minutes=1)),
        ],
    )
    report = await run_due(db, FakeChat(), now=NOW, config=CONFIG)
    rows = await _statuses(db)
    assert [rows[i].status for i in ids] == [
        NoticeStatus.SKIPPED,
        NoticeStatus.SENT,
        NoticeStatus.PENDING,
        NoticeStatus.SKIPPED,
    ]
    assert rows[ids[1]].late is True
    assert "superseded" in (rows[ids[0]].last_error or "")
    assert "no longer useful" in (rows[ids[3]].last_error or "")
    assert (report.late, report.skipped) == (1, 2)


async def test_two_dispatchers_on_one_database_never_send_twice(db: Database) -> None:
    world = await _world(db)
    ids = await _add(
        db,
        [_channel(world, f"c{i}") for i in range(30)]
        + [_dm(world, f"d{i}", i % 4) for i in range(10)],
    )
    other_db = Database(db.url)
    chat = FakeChat()
    try:
        configs = [EngineConfig(worker_id=w, batch_size=4) for w in ("a", "b")]
        await asyncio.gather(
            run_due(db, chat, now=NOW, config=configs[0]),
            run_due(other_db, chat, now=NOW, config=configs[1]),
        )
    finally:
        await other_db.dispose()
    assert chat.deliveries() == {i: 1 for i in ids}
    rows = await _statuses(db)
    assert {rows[i].status for i in ids} == {NoticeStatus.SENT}


async def test_planning_twice_schedules_once_and_withdrawn_keys_come_back(db: Database) -> None:
    world = await _world(db)
    row = _channel(world, "same", due=NOW + timedelta(hours=1))
    async with db.session() as s:
        assert await P.insert_notices(s, [row]) == 1
        assert await P.insert_notices(s, [row]) == 0
        (nid,) = (await s.execute(select(Notice.id))).scalars()
        await s.execute(
            update(Notice).where(Notice.id == nid).values(status=NoticeStatus.CANCELLED)
        )
        later = P.immediate(
            key="same",
            kind=M.FEEDBACK_RELEASED,
            audience=NoticeAudience.CHANNEL,
            module_id=world.module_id,
            now=NOW + timedelta(hours=2),
            payload={"title": "same", "module": "MATH70097"},
        )
        assert await P.insert_notices(s, [later]) == 1
        notice = await s.get(Notice, nid)
        assert notice is not None
        await s.refresh(notice)
        assert notice.status is NoticeStatus.PENDING
        assert notice.due_at == NOW + timedelta(hours=2)

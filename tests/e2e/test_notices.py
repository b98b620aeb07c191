"""The notice engine through the local Discord server: closed DMs, failures, restarts, crashes.

The crash test cancels the dispatcher at random points of a burst (and, every few rounds, throws
the whole application away and starts a fresh one on the same database and server), 20 times,
then reads the server's message log: every notice must be there exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.calendar import engine
from bot.calendar import messages as M
from bot.calendar import planning as P
from bot.db.engine import Database
from bot.db.models import (
    Module,
    Notice,
    NoticeAudience,
    NoticeStatus,
    OutboxMessage,
    OutboxState,
    Person,
)
from bot.outbox import sender
from cohortlab.localdiscord.scripting import message_text
from cohortlab.sandbox import Sandbox, _no_identify_wait
from tests.e2e.test_calendar_support import (
    MODULE,
    bot_texts,
    button,
    calendar_sandbox,
    notices,
    number,
    restart,
    students,
    tutor,
    world_of,
)
from tests.storage_backends import POSTGRES_URL, Backends

pytestmark = pytest.mark.e2e


@pytest.fixture
async def box(storage: Backends, backend: str) -> AsyncIterator[Sandbox]:
    async with calendar_sandbox(storage, backend) as sandbox:
        yield sandbox


def _calendar_cog(app: object) -> object:
    cog = app.bot.get_cog("CalendarCog")  # type: ignore[attr-defined]
    assert cog is not None
    return cog


async def test_closed_dms_fall_back_to_a_mention_in_the_module_channel(box: Sandbox) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    amara, lukas = students(box)[:2]
    box.server.state.users[amara.id].accepts_dms = False

    await (
        await teacher.command(
            "tutorial add",
            where=channel,
            module=MODULE,
            title="Week 2 @everyone <@1>",
            start="2026-03-04 18:00",
            duration="1h",
        )
    ).reply(contains="Tutorial #")
    await box.run_due()
    card = await box.server.script.wait_for_message(channel, contains="Week 2")
    assert card.mention_everyone is False and card.mention_user_ids == []
    await (await amara.click(card, button(card, "going"))).reply(contains="going")
    await (await lukas.click(card, button(card, "going"))).reply(contains="going")

    await box.advance(timedelta(hours=33))
    fallback = await box.server.script.wait_for_message(
        channel, contains="I could not DM you", predicate=lambda m: amara.id in m.mention_user_ids
    )
    assert fallback.content.startswith(f"<@{amara.id}>")
    assert fallback.mention_user_ids == [amara.id]
    assert fallback.mention_everyone is False
    assert "starts in 24 hours" in fallback.content
    await lukas.wait_for_dm(contains="starts in 24 hours")
    class_post = await box.server.script.wait_for_message(channel, contains="tutorial **Week 2")
    assert class_post.mention_role_ids == [world.module_roles[MODULE].id]
    assert class_post.mention_user_ids == [] and class_post.mention_everyone is False

    rows = [n for n in await notices(box, kind="tutorial_reminder") if n.person_id is not None]
    by_via = Counter(n.delivered_via for n in rows if n.status is NoticeStatus.SENT)
    assert by_via == {"fallback": 1, "dm": 1}
    closed = next(n for n in rows if n.delivered_via == "fallback")
    assert "DM closed (403)" in (closed.last_error or "")

    # A private matter is not repeated in the channel: only a pointer to it.
    item = number(
        (
            await (
                await teacher.command(
                    "deadline add",
                    where=channel,
                    module=MODULE,
                    kind="submission_deadline",
                    title="Coursework 1",
                    due="2026-03-20 12:00",
                )
            ).reply(contains="#")
        ).content
    )
    await (
        await teacher.command(
            "deadline extend",
            where=channel,
            item=item,
            student=amara,
            due="2026-03-27 12:00",
            reason="MC-SECRET-1",
        )
    ).reply(contains="Extension #")
    await box.run_due()
    pointer = await box.server.script.wait_for_message(channel, contains="private message")
    assert pointer.mention_user_ids == [amara.id]
    assert "MC-SECRET-1" not in pointer.content and "27" not in message_text(pointer)
    assert amara.dms() == []


async def test_failed_delivery_is_retried_with_backoff_without_blocking_others(
    box: Sandbox,
) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    for n in range(3):
        await (
            await teacher.command(
                "deadline add",
                where=channel,
                module=MODULE,
                kind="submission_deadline",
                title=f"Quiz {n}",
                due="2026-03-02 09:30",
                offsets="15m",
            )
        ).reply(contains="#")
    # The first post fails outright (400) and the next is rate limited (429).
    box.server.fail_route("/channels/{channel_id}/messages", status=400, times=1, method="POST")
    box.server.throttle_route("/channels/{channel_id}/messages", times=1, method="POST")
    await box.advance(timedelta(minutes=15))
    await box.server.script.wait_for(
        lambda: len(bot_texts(box, channel, "due in 15 minutes")) == 2, what="two posts"
    )
    rows = await notices(box, kind="deadline_notice")
    # The failed one is the outbox's (claimed by it), its message waiting for its retry.
    assert Counter(n.status for n in rows) == {NoticeStatus.SENT: 2, NoticeStatus.CLAIMED: 1}
    failed = next(n for n in rows if n.status is NoticeStatus.CLAIMED)
    async with box.db.session() as s:
        message = (
            await s.execute(
                select(OutboxMessage).where(
                    OutboxMessage.feature == "calendar", OutboxMessage.ref_id == failed.id
                )
            )
        ).scalar_one()
    assert message.state is OutboxState.PENDING
    assert message.not_before == box.clock.now() + timedelta(seconds=30)
    assert "HTTP 400" in (message.last_error or "")

    await box.advance(timedelta(seconds=29))
    assert len(bot_texts(box, channel, "due in 15 minutes")) == 2
    await box.advance(timedelta(seconds=1))
    await box.server.script.wait_for(
        lambda: len(bot_texts(box, channel, "due in 15 minutes")) == 3, what="the retry"
    )
    rows = await notices(box, kind="deadline_notice")
    assert {n.status for n in rows} == {NoticeStatus.SENT}
    assert sorted(n.attempts for n in rows) == [1, 1, 2]
    for n in range(3):
        assert len(bot_texts(box, channel, f"Quiz {n}")) == 1


async def test_restart_catch_up_sends_late_when_useful_and_skips_the_rest(
    box: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    world = world_of(box)
    channel = world.channel(MODULE)
    teacher = tutor(box)
    for title, start in (
        ("Evening tutorial", "2026-03-03 18:00"),
        ("Noon tutorial", "2026-03-03 12:00"),
    ):
        await (
            await teacher.command(
                "tutorial add",
                where=channel,
                module=MODULE,
                title=title,
                start=start,
                duration="1h",
            )
        ).reply(contains="Tutorial #")
    await (
        await teacher.command(
            "deadline add",
            where=channel,
            module=MODULE,
            kind="submission_deadline",
            title="Essay",
            due="2026-03-04 12:00",
        )
    ).reply(contains="#")
    await box.run_due()
    await box.server.script.wait_for(
        lambda: len(bot_texts(box, channel, "Will you come?")) == 2, what="both cards"
    )

    # Down from Monday 09:00 to Tuesday 17:50: the evening tutorial has not started yet.
    await box.app.stop()
    box.clock.set(datetime(2026, 3, 3, 17, 50, tzinfo=UTC))
    cursor = box.server.script.last_id()
    caplog.set_level(logging.INFO, logger="bot.calendar.engine")
    await restart(box, stop=False)
    await box.run_due()

    # Sent at 17:50, they say what is left then (10 minutes, 18 h 10), not the planned
    # 15 minutes and 24 hours.
    late_reminder = await box.server.script.wait_for_message(
        channel, contains="Evening tutorial** starts in 10 minutes", after=cursor
    )
    assert "Sent late" in late_reminder.content
    late_deadline = await box.server.script.wait_for_message(
        channel, contains="due in 18 hours 10 minutes", after=cursor
    )
    assert "Sent late" in late_deadline.content
    after = [message_text(m) for m in box.server.script.bot_messages(channel) if m.id > cursor]
    assert len(after) == 2, after
    skipped = await notices(box, status=NoticeStatus.SKIPPED)
    reasons = sorted((n.payload.get("title"), n.last_error or "") for n in skipped)
    assert [r[0] for r in reasons] == [
        "Essay",
        "Evening tutorial",
        "Noon tutorial",
        "Noon tutorial",
    ]
    assert all("superseded" in r for t, r in reasons if t in ("Essay", "Evening tutorial"))
    assert all("no longer useful" in r for t, r in reasons if t == "Noon tutorial")
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 4
    metrics = box.app.metrics.render().decode()
    assert 'cohortbot_notices_total{outcome="late"} 2.0' in metrics
    assert 'cohortbot_notices_total{outcome="skipped"} 4.0' in metrics


async def _burst(box: Sandbox, round_no: int, size: int) -> list[int]:
    """``size`` notices due now: mostly class-wide posts, every fourth a DM."""
    now = box.clock.now()
    async with box.db.session() as s:
        module = (await s.execute(select(Module).where(Module.code == MODULE))).scalar_one()
        people = (
            (
                await s.execute(
                    select(Person).where(
                        Person.student_number.is_not(None), Person.platform_user_id.is_not(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        rows = []
        for i in range(size):
            key = f"burst:{round_no}:{i}"
            if i % 4 == 3:
                person = people[i % len(people)]
                rows.append(
                    P.immediate(
                        key=key,
                        kind=M.EXTENSION_GRANTED,
                        audience=NoticeAudience.PERSON,
                        module_id=module.id,
                        now=now,
                        person_id=person.id,
                        payload={
                            "title": f"Burst {round_no}.{i}",
                            "module": MODULE,
                            "due_at": (now + timedelta(days=3)).isoformat(),
                            "was_at": now.isoformat(),
                            "reason_ref": f"R{round_no}.{i}",
                        },
                    )
                )
            else:
                rows.append(
                    P.immediate(
                        key=key,
                        kind=M.FEEDBACK_RELEASED,
                        audience=NoticeAudience.CHANNEL,
                        module_id=module.id,
                        now=now,
                        payload={"title": f"Burst {round_no}.{i}", "module": MODULE},
                    )
                )
        await P.insert_notices(s, rows)
        ids = (
            await s.execute(select(Notice.id).where(Notice.dedupe_key.like(f"burst:{round_no}:%")))
        ).scalars()
        return sorted(ids)


def _deliveries(box: Sandbox, notice_ids: list[int]) -> Counter[int]:
    """How many messages on the server carry each notice's marker (deleted ones included)."""
    wanted = set(notice_ids)
    seen: Counter[int] = Counter()
    for msg in box.server.state.messages.values():
        if msg.author_id != box.server.bot_user_id:
            continue
        last = msg.content.rstrip().splitlines()[-1:] or [""]
        if last[0].startswith("-# cohortbot notice "):
            nid = int(last[0].rsplit(" ", 1)[1])
            if nid in wanted:
                seen[nid] += 1
    return seen


async def test_killed_at_random_points_every_notice_is_sent_exactly_once(box: Sandbox) -> None:
    seed = 20260302
    rng = random.Random(seed)
    for student in students(box)[:3]:  # people the bot has met can be DMed
        await (await student.command("calendar upcoming")).reply()
    every: list[int] = []
    recovered = 0
    for round_no in range(20):
        ids = await _burst(box, round_no, size=12)
        every += ids
        # Crash: the dispatcher dies at a random point of its run.
        task = asyncio.create_task(box.app.scheduler.run_all_now())
        await asyncio.sleep(rng.uniform(0.0, 0.12))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # What had left the dying process lands (or fails) now, as it would on the wire.
        await box.server.script.wait_for(
            lambda: not engine._inflight and not sender._inflight, what="in-flight calls"
        )
        if round_no % 5 == 4:
            # ...and the whole process with it: a fresh application on the same DB and server.
            await restart(box)
        # After the claim lease (2 minutes) the next run recovers what was in flight.
        await box.advance(timedelta(minutes=3))
        await box.run_due()
        rows = await notices(box)
        mine = [n for n in rows if n.id in ids]
        assert {n.status for n in mine} == {NoticeStatus.SENT}, (round_no, seed)
        recovered += sum(1 for n in mine if n.last_error == "recovered")
        counts = _deliveries(box, ids)
        assert sorted(counts) == ids and set(counts.values()) == {1}, (round_no, seed, counts)
    counts = _deliveries(box, every)
    assert len(counts) == 240 and set(counts.values()) == {1}
    print(f"kill test: 240 notices, {recovered} found already sent after a crash (seed {seed})")


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="COHORTBOT_TEST_POSTGRES_URL is not set")
async def test_two_bot_processes_sharing_postgres_never_send_twice(storage: Backends) -> None:
    from bot.discord_app import Application

    async with calendar_sandbox(storage, "postgres") as first:
        second_db = Database(first.db.url)
        second = Application(first.app.settings, clock=first.clock, db=second_db)
        second.bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
        await second.start()
        try:
            await second.wait_until_ready()
            apps = [first.app, second]
            for app in apps:
                cog = _calendar_cog(app)
                cog.config = replace(cog.config, batch_size=7)  # type: ignore[attr-defined]
            workers = {_calendar_cog(app).config.worker_id for app in apps}  # type: ignore[attr-defined]
            assert len(workers) == 2
            every: list[int] = []
            for student in students(first)[:3]:
                await (await student.command("calendar upcoming")).reply()
            for round_no in range(4):
                ids = await _burst(first, round_no, size=40)
                every += ids
                await asyncio.gather(*(app.scheduler.run_all_now() for app in apps))
                await asyncio.gather(*(app.scheduler.run_all_now() for app in apps))
                counts = _deliveries(first, ids)
                assert sorted(counts) == ids and set(counts.values()) == {1}, counts
            rows = [n for n in await notices(first) if n.id in set(every)]
            assert {n.status for n in rows} == {NoticeStatus.SENT}
            # Both processes sent some: the outbox records which sender sent each message.
            async with first.db.session() as s:
                messages = (
                    await s.execute(
                        select(OutboxMessage).where(
                            OutboxMessage.feature == "calendar",
                            OutboxMessage.ref_id.in_(every),
                        )
                    )
                ).scalars()
                by_worker = Counter(m.claimed_by for m in messages)
            senders = {app.bot.outbox.worker for app in apps}
            assert set(by_worker) == senders, by_worker
            print(f"two processes on PostgreSQL: {dict(by_worker)}")
        finally:
            await second.stop()
            await second_db.dispose()

"""The weekly early-warning digest: opt-in, once per module, tutor and week, quiet hours kept."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import cast

from bot.chat import ChatPort, OutgoingMessage, Posted
from bot.dashboard.digest import digest_moment, send_digests
from bot.db.engine import Database
from bot.insights.service import save_thresholds
from bot.outbox import deliver
from cohortlab.activity import seed_recent_weeks
from cohortlab.sample import sample_cohort

MONDAY_9 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # 09:00 in London (GMT)


class FakeChat:
    """The two calls the outbox makes for a DM: open the channel, post there."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def dm_channel_id(self, user_id: str) -> str:
        return f"dm-{user_id}"

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        self.sent.append((channel_id.removeprefix("dm-"), message.text))
        return Posted(channel_id, str(len(self.sent)))


async def digests(db: Database, chat: ChatPort, now: datetime) -> int:
    """The digest job, then the outbox's run: how many digests were sent."""
    queued = await send_digests(db, now)
    report = await deliver(db, chat, now)
    assert report.sent == queued
    return queued


def test_the_digest_moment_is_the_last_weekday_hour_in_the_cohort_zone() -> None:
    assert digest_moment(MONDAY_9, "Europe/London", 1, 8) == datetime(2026, 3, 9, 8, tzinfo=UTC)
    earlier = digest_moment(MONDAY_9 - timedelta(hours=2), "Europe/London", 1, 8)
    assert earlier == datetime(2026, 3, 2, 8, tzinfo=UTC)
    tokyo = digest_moment(MONDAY_9, "Asia/Tokyo", 1, 8)
    assert tokyo.astimezone(UTC) == datetime(2026, 3, 8, 23, tzinfo=UTC)


async def test_tutors_get_one_digest_a_week_only_when_asked_and_not_in_quiet_hours(
    db: Database,
) -> None:
    async with db.session() as s:
        c = await sample_cohort(s, students=8)
        c.tutor.platform_user_id = "5001"
        await seed_recent_weeks(s, c.module, now=MONDAY_9, rng=random.Random(3), fading=2)
        cohort_id = c.cohort_id
        tutor_id = c.tutor.id
    fake = FakeChat()
    chat = cast(ChatPort, fake)  # only dm_channel_id() and post() are used
    assert await digests(db, chat, MONDAY_9) == 0  # not asked for: nothing
    async with db.session() as s:
        await save_thresholds(s, cohort_id, {"digest": True}, MONDAY_9)
        from bot.db.models import Person

        tutor = await s.get(Person, tutor_id)
        assert tutor is not None
        tutor.quiet_start, tutor.quiet_end = time(8, 30), time(10, 0)
    assert await digests(db, chat, MONDAY_9) == 0  # quiet hours: later
    later = MONDAY_9 + timedelta(hours=1, minutes=5)
    assert await digests(db, chat, later) == 1
    assert await digests(db, chat, later + timedelta(minutes=1)) == 0  # once a week
    ((user, text),) = fake.sent
    assert user == "5001"
    assert text.startswith("Weekly early warning for M1 Sample module: 2 of 8 students flagged.")
    assert "missed" in text and "/dashboard" in text
    # A day late is too late: the next digest is next week's.
    assert await digests(db, chat, MONDAY_9 + timedelta(days=2)) == 0


async def test_a_digest_decided_before_a_crash_is_sent_once_afterwards(db: Database) -> None:
    async with db.session() as s:
        c = await sample_cohort(s, students=8)
        c.tutor.platform_user_id = "5001"
        await seed_recent_weeks(s, c.module, now=MONDAY_9, rng=random.Random(3), fading=2)
        await save_thresholds(s, c.cohort_id, {"digest": True}, MONDAY_9)
    assert await send_digests(db, MONDAY_9) == 1  # decided; the process dies before sending
    assert await send_digests(db, MONDAY_9 + timedelta(minutes=1)) == 0  # not decided twice
    fake = FakeChat()
    chat = cast(ChatPort, fake)
    await deliver(db, chat, MONDAY_9 + timedelta(minutes=2))
    await deliver(db, chat, MONDAY_9 + timedelta(minutes=3))
    assert [user for user, _ in fake.sent] == ["5001"]

"""A tutor's message from the dashboard goes through the outbox: sent once, its row records
what became of it (delivered, or why not)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import select

from bot.chat import ChatError, ChatErrorKind, ChatPort, OutgoingMessage, Posted
from bot.dashboard import messages
from bot.dashboard.reads import Viewer
from bot.db.engine import Database
from bot.db.models import OutboxMessage, Role, TutorMessage
from bot.outbox import deliver
from cohortlab.sample import SampleCohort, sample_cohort

NOW = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


class FakeChat:
    """DMs as the outbox sends them; ``closed`` users refuse them."""

    def __init__(self, closed: set[str] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.closed = closed or set()

    async def dm_channel_id(self, user_id: str) -> str:
        return f"dm-{user_id}"

    async def post(self, channel_id: str, message: OutgoingMessage) -> Posted:
        user = channel_id.removeprefix("dm-")
        if user in self.closed:
            raise ChatError(ChatErrorKind.DM_CLOSED, "Cannot send messages to this user")
        self.sent.append((user, message.text))
        return Posted(channel_id, str(100 + len(self.sent)))


async def setting(db: Database) -> tuple[SampleCohort, Viewer]:
    async with db.session() as s:
        c = await sample_cohort(s, students=3)
        for n, student in enumerate(c.students[:2]):
            student.platform_user_id = str(7000 + n)
    viewer = Viewer(c.tutor.id, "Dr Tutor", c.cohort_id, {c.module.id: Role.TUTOR})
    return c, viewer


async def write(db: Database, c: SampleCohort, viewer: Viewer, n: int) -> messages.QueuedMessage:
    return await messages.send_tutor_message(
        db,
        viewer,
        module_id=c.module.id,
        recipient_id=c.students[n].id,
        text="Are you OK?",
        now=NOW,
    )


async def test_a_tutor_message_is_sent_once_and_its_delivery_recorded(db: Database) -> None:
    c, viewer = await setting(db)
    queued = await write(db, c, viewer, 0)
    pending = await messages.message_outcome(db, queued)
    assert pending.pending and not pending.delivered  # written; the sender has not run yet
    fake = FakeChat()
    later = NOW + timedelta(seconds=3)
    await deliver(db, cast(ChatPort, fake), later)
    await deliver(db, cast(ChatPort, fake), later)
    assert fake.sent == [("7000", "Message from Dr Tutor:\nAre you OK?")]
    outcome = await messages.message_outcome(db, queued)
    assert outcome.delivered and outcome.detail == f"Message sent to {queued.recipient}."
    async with db.session() as s:
        row = await s.get(TutorMessage, queued.message_id)
        assert row is not None and row.sent_at == later and row.platform_message_id == "101"


async def test_closed_dms_and_an_unlinked_student_are_recorded_as_not_delivered(
    db: Database,
) -> None:
    c, viewer = await setting(db)
    closed = await write(db, c, viewer, 1)
    unlinked = await write(db, c, viewer, 2)
    await deliver(db, cast(ChatPort, FakeChat(closed={"7001"})), NOW)
    refused = await messages.message_outcome(db, closed)
    assert not refused.delivered and not refused.pending
    assert refused.detail.endswith("was not delivered: they do not accept direct messages.")
    nobody = await messages.message_outcome(db, unlinked)
    assert nobody.detail.endswith("was not delivered: they have not linked a chat account yet.")


async def test_a_sign_in_link_is_not_kept_in_the_outbox_once_sent(db: Database) -> None:
    from bot.access.permissions import Caller
    from bot.db.models import Cohort

    c, _ = await setting(db)
    async with db.session() as s:
        cohort = await s.get(Cohort, c.cohort_id)
        assert cohort is not None
        student = c.students[0]
        link = await messages.request_link(
            s,
            Caller(person=student, cohort_id=c.cohort_id, roles={c.module.id: Role.STUDENT}),
            cohort,
            now=NOW,
            secret=None,
            public_url="http://x/",
        )
    fake = FakeChat()
    await deliver(db, cast(ChatPort, fake), NOW)
    assert [(u, link.url in t) for u, t in fake.sent] == [("7000", True)]
    async with db.session() as s:
        kept = (await s.execute(select(OutboxMessage.content))).scalar_one()
    assert link.url not in str(kept)

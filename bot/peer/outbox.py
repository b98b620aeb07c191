"""Messages the peer service owes people: written with the decision, sent by the outbox.

Services enqueue in the same transaction that decided the message (an allocation, a reminder,
a release), so a rolled-back command owes nothing and a committed one cannot forget. Sending,
the lease, the verification after a crash and the retries are the outbox's (``bot.outbox``);
this module only turns the peer service's ``Outgoing`` into outbox messages and reacts to
outcomes: a review request that arrived records its message id on the review; one that can
never reach its reviewer (closed DMs, no linked account) sends the review to someone else.
Messages enqueued before the outbox existed keep their ``-# cohortbot peer <id>`` marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.chat import Button, ButtonStyle, ChatPort
from bot.db.engine import Database
from bot.db.models import OutboxState, PeerExercise, PeerSubmission, ReviewAssignment
from bot.outbox import FileRef, Message, Outcome

FEATURE = "peer"
#: Files attached to review requests: read from the submission when sent, never copied.
SUBMISSION_FILES = "peer_submission"
#: A claim older than this belongs to a process that died while sending (``bot.outbox``).
STALE_CLAIM = outbox.LEASE
MAX_ATTEMPTS = outbox.MAX_ATTEMPTS


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to enqueue: to a person (DM) or a channel."""

    dedupe_key: str
    exercise_id: int
    kind: str
    text: str
    person_id: int | None = None
    channel_id: str | None = None
    assignment_id: int | None = None
    button: tuple[str, str] | None = None  # (label, custom_id)
    file: tuple[int, str] | None = None  # (submission id, filename shown)


def key_of(dedupe_key: str) -> str:
    return f"{FEATURE}:{dedupe_key}"


async def enqueue(session: AsyncSession, messages: Sequence[Outgoing], now: datetime) -> int:
    """Add messages; a dedupe key already present is skipped (replays enqueue nothing).

    A channel post whose module channel is not linked yet goes to the module's channel as
    linked when it is sent (the outbox waits for it).
    """
    exercise_ids = {m.exercise_id for m in messages if m.person_id is None and m.channel_id is None}
    modules: dict[int, int] = {}
    if exercise_ids:
        rows = await session.execute(
            select(PeerExercise.id, PeerExercise.module_id).where(
                PeerExercise.id.in_(sorted(exercise_ids))
            )
        )
        modules = {exercise_id: module_id for exercise_id, module_id in rows.all()}
    out = [
        Message(
            key=key_of(m.dedupe_key),
            feature=FEATURE,
            kind=m.kind,
            text=m.text,
            person_id=m.person_id,
            channel_id=m.channel_id,
            module_id=(
                modules.get(m.exercise_id) if m.person_id is None and m.channel_id is None else None
            ),
            buttons=(
                (Button(m.button[0], custom_id=m.button[1], style=ButtonStyle.PRIMARY),)
                if m.button is not None
                else ()
            ),
            files=(
                (FileRef(SUBMISSION_FILES, m.file[0], m.file[1]),) if m.file is not None else ()
            ),
            scope_id=m.exercise_id,
            ref_id=m.assignment_id,
        )
        for m in messages
    ]
    return await outbox.enqueue(session, out, now)


async def cancel_requests(session: AsyncSession, assignment_ids: Sequence[int]) -> None:
    """Review requests not yet sent for reviews taken away: never send them."""
    if assignment_ids:
        await outbox.cancel(session, FEATURE, ref_ids=assignment_ids)


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: int
    failed: int
    retrying: int
    undeliverable_assignments: tuple[int, ...]


async def deliver(
    db: Database, chat: ChatPort, now: datetime, *, sender: outbox.Outbox | None = None
) -> Delivery:
    """Send what is owed now (everything the outbox holds, peer's or not): through the
    application's ``sender`` when there is one (drained on stop), else a sender for this run."""
    report = await (sender.run(now) if sender is not None else outbox.deliver(db, chat, now))
    undeliverable = tuple(
        o.ref_id
        for o in report.outcomes
        if o.feature == FEATURE
        and o.state is OutboxState.FAILED
        and o.refused
        and o.kind == "assignment"
        and o.ref_id is not None
    )
    return Delivery(report.sent, report.failed, report.retrying, undeliverable)


async def _sent(session: AsyncSession, o: Outcome) -> None:
    if o.kind == "assignment" and o.ref_id is not None and o.message_id is not None:
        await session.execute(
            update(ReviewAssignment)
            .where(ReviewAssignment.id == o.ref_id)
            .values(dm_message_id=o.message_id)
        )


async def _failed(session: AsyncSession, o: Outcome) -> None:
    """A review request that can never reach its reviewer goes to someone else."""
    if o.kind == "assignment" and o.refused and o.ref_id is not None:
        from bot.peer.jobs import undeliverable  # the due work imports this module

        await undeliverable(session, o.ref_id, o.at)


async def _submission(session: AsyncSession, submission_id: int) -> bytes | None:
    return (
        await session.execute(select(PeerSubmission.data).where(PeerSubmission.id == submission_id))
    ).scalar_one_or_none()


outbox.register(FEATURE, sent=_sent, failed=_failed)
outbox.register_files(SUBMISSION_FILES, _submission)

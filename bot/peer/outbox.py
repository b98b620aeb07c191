"""Messages the peer service owes people: written with the decision, sent by the outbox.

Services enqueue in the same transaction that decided the message (an allocation, a reminder,
a release), so a rolled-back command owes nothing and a committed one cannot forget. Sending,
the lease, the verification after a crash and the retries are the outbox's (``bot.outbox``).
Peer's messages are the outbox's own ``Message`` (keys under ``key_of``, the exercise as
``scope_id``, the review as ``ref_id``); this module only reacts to outcomes: a review request
that arrived records its message id on the review; one that can never reach its reviewer
(closed DMs, no linked account) sends the review to someone else. Messages enqueued before
the outbox existed keep their ``-# cohortbot peer <id>`` marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.chat import ChatPort
from bot.db.engine import Database
from bot.db.models import OutboxState, PeerSubmission, ReviewAssignment
from bot.outbox import Outcome

FEATURE = "peer"
#: Files attached to review requests: read from the submission when sent, never copied.
SUBMISSION_FILES = "peer_submission"
#: A claim older than this belongs to a process that died while sending (``bot.outbox``).
STALE_CLAIM = outbox.LEASE
MAX_ATTEMPTS = outbox.MAX_ATTEMPTS


def key_of(dedupe_key: str) -> str:
    return f"{FEATURE}:{dedupe_key}"


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

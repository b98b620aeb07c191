"""The outbox table: enqueue, claim with a lease, take over expired claims, record outcomes.

Every state change is one atomic ``UPDATE ... WHERE state = ... [AND claimed_by = me]``, so
on SQLite and PostgreSQL alike, and with several processes, exactly one claimer wins a row and
an outcome is recorded only by the claimer that still holds it (a claim taken over after its
lease belongs to the taker). On PostgreSQL the candidate rows are read ``FOR UPDATE SKIP
LOCKED`` so two claimers take disjoint batches instead of queueing behind each other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.chat import FileAttachment, OutgoingMessage
from bot.db.models import DmChannel, Module, OutboxMessage, OutboxState, Person
from bot.db.ops import earliest, insert_ignore
from bot.outbox import policy
from bot.outbox.message import (
    Message,
    Outcome,
    content_of,
    file_loader,
    hooks_for,
    message_of,
)

log = logging.getLogger(__name__)

NOT_LINKED = "the person has no chat account linked yet"


# --------------------------------------------------------------------------- enqueue


async def enqueue(session: AsyncSession, messages: Sequence[Message], now: datetime) -> int:
    """Add messages in the caller's transaction; a key already present is skipped (a replayed
    command or a second process enqueues nothing). Returns how many were new."""
    rows = [
        {
            "key": m.key,
            "feature": m.feature,
            "kind": m.kind,
            "scope_id": m.scope_id,
            "ref_id": m.ref_id,
            "person_id": m.person_id,
            "channel_id": m.channel_id,
            "module_id": m.module_id,
            "content": content_of(m),
            "marker": m.marker,
            "state": OutboxState.PENDING,
            "attempts": 0,
            "verify": m.verify,
            "not_before": m.not_before,
            "created_at": now,
        }
        for m in messages
    ]
    added = await insert_ignore(session, OutboxMessage, rows, conflict=["key"])
    if added:
        _wake_after_commit(session)
    return added


#: Called after a transaction that enqueued something commits (the running app wakes its
#: sender, so a command's message goes out now, not at the next tick).
_wakers: set[Any] = set()


def add_waker(wake: Any) -> None:
    _wakers.add(wake)


def remove_waker(wake: Any) -> None:
    _wakers.discard(wake)


def _wake_after_commit(session: AsyncSession) -> None:
    sync = session.sync_session
    if sync.info.get("outbox_wake"):
        return
    sync.info["outbox_wake"] = True
    from sqlalchemy import event

    def woken(_session: Any) -> None:
        sync.info.pop("outbox_wake", None)
        for wake in list(_wakers):
            try:
                wake()
            except Exception:  # a waker must never break a commit
                log.exception("outbox waker failed")

    def dropped(_session: Any) -> None:
        sync.info.pop("outbox_wake", None)

    event.listen(sync, "after_commit", woken, once=True)
    event.listen(sync, "after_rollback", dropped, once=True)


async def cancel(
    session: AsyncSession,
    feature: str,
    *,
    ref_ids: Sequence[int] | None = None,
    scope_id: int | None = None,
    kinds: Sequence[str] | None = None,
    person_id: int | None = None,
) -> int:
    """Cancel a feature's messages not yet claimed (one being sent goes out)."""
    stmt = update(OutboxMessage).where(
        OutboxMessage.feature == feature, OutboxMessage.state == OutboxState.PENDING
    )
    if ref_ids is not None:
        stmt = stmt.where(OutboxMessage.ref_id.in_(list(ref_ids)))
    if scope_id is not None:
        stmt = stmt.where(OutboxMessage.scope_id == scope_id)
    if kinds is not None:
        stmt = stmt.where(OutboxMessage.kind.in_(list(kinds)))
    if person_id is not None:
        stmt = stmt.where(OutboxMessage.person_id == person_id)
    result = await session.execute(
        stmt.values(state=OutboxState.CANCELLED).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def next_due(session: AsyncSession) -> datetime | None:
    """When a sender next has work: a message due (a retry, a later one) or a lease ending."""
    pending = await earliest(
        session,
        select(func.min(func.coalesce(OutboxMessage.not_before, OutboxMessage.created_at))).where(
            OutboxMessage.state == OutboxState.PENDING
        ),
    )
    lease = await earliest(
        session,
        select(func.min(OutboxMessage.lease_until)).where(
            OutboxMessage.state == OutboxState.CLAIMED
        ),
    )
    # A lease is taken over just after it ends.
    lease_over = lease + timedelta(seconds=1) if lease is not None else None
    return min((t for t in (pending, lease_over) if t is not None), default=None)


async def has_work(reader: AsyncConnection | AsyncSession, now: datetime) -> bool:
    """Whether a sender's run at ``now`` would find anything: a message due, or a claim whose
    lease ended. One query: a run that would find nothing (most runs, since every feature's
    due work runs the sender after it) costs this instead of its three transactions."""
    found = await reader.execute(
        select(OutboxMessage.id)
        .where(
            or_(
                and_(
                    OutboxMessage.state == OutboxState.PENDING,
                    or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
                ),
                and_(OutboxMessage.state == OutboxState.CLAIMED, OutboxMessage.lease_until < now),
            )
        )
        .limit(1)
    )
    return found.first() is not None


# --------------------------------------------------------------------------- claiming


#: What names a message: carried unchanged from its row to the claimed ``Job`` and on to the
#: ``Outcome`` its feature's hooks see (the three share these field names).
_IDENTITY = ("id", "key", "feature", "kind", "scope_id", "ref_id", "person_id")


def _identity(source: OutboxMessage | Job) -> dict[str, Any]:
    return {name: getattr(source, name) for name in _IDENTITY}


@dataclass
class Job:
    """A claimed message with everything needed to send it, read in the claim transaction."""

    id: int
    key: str
    feature: str
    kind: str
    scope_id: int | None
    ref_id: int | None
    person_id: int | None
    attempts: int
    verify: bool
    claimed_at: datetime
    marker: str
    message: OutgoingMessage
    #: A DM: the recipient's chat id and their stored DM channel (None: open it first).
    user_id: str | None = None
    dm_channel: str | None = None
    #: A channel post (or edit): where.
    channel_id: str | None = None
    edit_of: str | None = None
    #: A DM refused: post this in ``fallback_channel`` instead.
    fallback: OutgoingMessage | None = None
    fallback_channel: str | None = None
    #: Why it cannot be sent at all (the person is not linked): failed without trying.
    unsendable: str | None = None
    #: Per channel that may hold it, the newest message sent there before this claim: a
    #: verifying read starts after it.
    search_after: dict[str, str | None] = field(default_factory=dict)
    #: A DM channel opened while sending (stored, so the next DM costs one request).
    learnt_dm: str | None = None

    @property
    def target(self) -> str:
        """Messages to one target go in order, one at a time (parts of one long message)."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.person_id is not None:
            return f"person:{self.person_id}"
        return f"channel:{self.channel_id}"


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def claim(
    session: AsyncSession,
    *,
    worker: str,
    now: datetime,
    after_id: int,
    limit: int,
    lease: timedelta = policy.LEASE,
) -> list[Job]:
    """Claim up to ``limit`` due messages with ids above ``after_id``, oldest first."""
    stmt = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.id > after_id,
            or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if _is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list((await session.execute(stmt)).scalars())
    if not ids:
        return []
    won = list(
        (
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.state == OutboxState.PENDING)
                .values(
                    state=OutboxState.CLAIMED,
                    claimed_by=worker,
                    claimed_at=now,
                    lease_until=now + lease,
                    attempts=OutboxMessage.attempts + 1,
                )
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    return await _load(session, sorted(won), worker, now)


async def take_over_expired(
    session: AsyncSession,
    *,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta = policy.LEASE,
) -> list[Job]:
    """Claims whose lease ended (their sender died or stalled): taken over atomically, each
    to be verified against the history before anything is sent again."""
    stmt = (
        select(OutboxMessage.id, OutboxMessage.claimed_by, OutboxMessage.claimed_at)
        .where(OutboxMessage.state == OutboxState.CLAIMED, OutboxMessage.lease_until < now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if _is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = (await session.execute(stmt)).all()
    won: list[int] = []
    before: dict[int, datetime | None] = {}
    for row_id, old_by, old_at in rows:
        guard = [OutboxMessage.id == row_id, OutboxMessage.state == OutboxState.CLAIMED]
        guard.append(
            OutboxMessage.claimed_by.is_(None)
            if old_by is None
            else OutboxMessage.claimed_by == old_by
        )
        guard.append(
            OutboxMessage.claimed_at.is_(None)
            if old_at is None
            else OutboxMessage.claimed_at == old_at
        )
        result = await session.execute(
            update(OutboxMessage)
            .where(*guard)
            .values(
                claimed_by=worker,
                claimed_at=now,
                lease_until=now + lease,
                attempts=OutboxMessage.attempts + 1,
                verify=True,
            )
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
        if result.first() is not None:
            won.append(row_id)
            before[row_id] = old_at
            log.warning(
                "outbox message %s: claim by %s expired; verifying before any resend",
                row_id,
                old_by,
            )
    return await _load(session, won, worker, now, before=before)


async def _load(
    session: AsyncSession,
    ids: list[int],
    worker: str,
    now: datetime,
    *,
    before: dict[int, datetime | None] | None = None,
) -> list[Job]:
    if not ids:
        return []
    rows = (
        await session.execute(
            select(OutboxMessage, Person.platform_user_id, DmChannel.channel_id, Module.channel_id)
            .outerjoin(Person, Person.id == OutboxMessage.person_id)
            .outerjoin(DmChannel, DmChannel.platform_user_id == Person.platform_user_id)
            .outerjoin(Module, Module.id == OutboxMessage.module_id)
            .where(OutboxMessage.id.in_(ids))
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    jobs: list[Job] = []
    waiting: list[int] = []
    for row, user_id, dm_channel, module_channel in rows:
        marker = row.marker or policy.default_marker(row.id)
        content = row.content or {}
        message = message_of(content, marker)
        files = await _files(session, content)
        if files:
            message = OutgoingMessage(
                text=message.text,
                buttons=message.buttons,
                files=files,
                mention_role_id=message.mention_role_id,
                marker=marker,
            )
        job = Job(
            **_identity(row),
            attempts=row.attempts,
            verify=row.verify,
            claimed_at=now,
            marker=marker,
            message=message,
            edit_of=content.get("edit_of"),
        )
        if row.person_id is not None:
            if user_id is None:
                job.unsendable = NOT_LINKED
            else:
                job.user_id = str(user_id)
                job.dm_channel = dm_channel
                if "fallback" in content and module_channel is not None:
                    job.fallback = message_of(content, marker, fallback=True, mention=job.user_id)
                    job.fallback_channel = module_channel
        else:
            job.channel_id = row.channel_id or module_channel
            if job.channel_id is None:
                # The module's channel is not linked yet: it waits, and that is no attempt.
                waiting.append(row.id)
                continue
        if job.verify and job.edit_of is None:
            job.search_after = await _search_bounds(session, job, (before or {}).get(row.id, now))
        jobs.append(job)
    if waiting:
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(waiting),
                OutboxMessage.state == OutboxState.CLAIMED,
                OutboxMessage.claimed_by == worker,
            )
            .values(
                state=OutboxState.PENDING,
                claimed_by=None,
                claimed_at=None,
                lease_until=None,
                attempts=OutboxMessage.attempts - 1,
            )
            .execution_options(synchronize_session=False)
        )
    return jobs


async def _files(session: AsyncSession, content: dict[str, Any]) -> tuple[FileAttachment, ...]:
    out: list[FileAttachment] = []
    for f in content.get("files") or []:
        loader = file_loader(str(f.get("source")))
        if loader is None:
            continue
        data = await loader(session, int(f["ref"]))
        if data is not None:
            out.append(FileAttachment(str(f["filename"]), data))
    return tuple(out)


async def _search_bounds(
    session: AsyncSession, job: Job, before: datetime | None
) -> dict[str, str | None]:
    """Where the verifying read may start: after the newest message sent to the same place
    before this claim (the one wanted cannot be older)."""
    bounds: dict[str, str | None] = {}
    places: list[tuple[str, Any]] = []
    if job.person_id is not None:
        places.append(
            (
                "dm",
                (OutboxMessage.person_id == job.person_id)
                & or_(OutboxMessage.delivered_via.is_(None), OutboxMessage.delivered_via == "dm"),
            )
        )
        if job.fallback_channel is not None:
            places.append(
                (job.fallback_channel, OutboxMessage.sent_channel_id == job.fallback_channel)
            )
    elif job.channel_id is not None:
        places.append(
            (
                job.channel_id,
                or_(
                    OutboxMessage.sent_channel_id == job.channel_id,
                    (OutboxMessage.sent_channel_id.is_(None))
                    & (OutboxMessage.channel_id == job.channel_id),
                ),
            )
        )
    for place, same in places:
        query = select(OutboxMessage.sent_message_id).where(
            same,
            OutboxMessage.state == OutboxState.SENT,
            OutboxMessage.sent_message_id.is_not(None),
        )
        if before is not None:
            query = query.where(OutboxMessage.sent_at < before)
        bounds[place] = (
            await session.execute(
                query.order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc()).limit(1)
            )
        ).scalar_one_or_none()
    return bounds


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True)
class Result:
    """What one attempt at a job came to (the sender's report, recorded by ``record``)."""

    job: Job
    #: "sent", "error", "release" (not started in time), "doubt" (no answer: left claimed).
    what: str
    channel_id: str | None = None
    message_id: str | None = None
    via: str | None = None
    note: str | None = None
    error: str | None = None
    retryable: bool = False
    recovered: bool = False
    #: The history could not be read to verify it (nothing was sent): tried again soon.
    unread: bool = False


async def record(
    session: AsyncSession,
    results: Sequence[Result],
    *,
    worker: str,
    now: datetime,
    max_attempts: int = policy.MAX_ATTEMPTS,
) -> list[Outcome]:
    """Record a batch of results in one transaction; runs the features' hooks in it.

    Only claims this worker still holds are touched: one taken over after its lease is the
    taker's, who verifies it against the history.
    """
    learnt = {
        (r.job.user_id, r.job.learnt_dm): None
        for r in results
        if r.job.learnt_dm is not None and r.job.user_id is not None
    }
    for user_id, channel_id in learnt:
        assert user_id is not None and channel_id is not None
        await store_dm_channel(session, user_id, channel_id, now)
    decided = [r for r in results if r.what != "doubt"]
    if not decided:
        return []
    held = {
        row_id: claimed_at
        for row_id, claimed_at in (
            await session.execute(
                select(OutboxMessage.id, OutboxMessage.claimed_at).where(
                    OutboxMessage.id.in_([r.job.id for r in decided]),
                    OutboxMessage.state == OutboxState.CLAIMED,
                    OutboxMessage.claimed_by == worker,
                )
            )
        ).all()
    }
    changes: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    for r in decided:
        job = r.job
        if held.get(job.id) != job.claimed_at:
            log.warning(
                "outbox message %s: its claim was taken over meanwhile; the taker verifies it",
                job.id,
            )
            continue
        base = {"id": job.id, "claimed_by": None, "lease_until": None}
        if r.what == "sent":
            changes.append(
                base
                | {
                    "claimed_by": worker,  # kept: which sender it was
                    "state": OutboxState.SENT,
                    "sent_at": now,
                    "sent_channel_id": r.channel_id,
                    "sent_message_id": r.message_id,
                    "delivered_via": r.via,
                    "last_error": r.note,
                    "verify": False,
                }
            )
            outcomes.append(_outcome(job, OutboxState.SENT, r, now))
        elif r.what == "release":
            changes.append(
                base
                | {
                    "state": OutboxState.PENDING,
                    "claimed_at": None,
                    "attempts": job.attempts - 1,
                }
            )
        else:
            step = policy.after_failure(
                retryable=r.retryable, attempts=job.attempts, max_attempts=max_attempts
            )
            error = (r.error or "unknown error")[:1000]
            if step.next is policy.Next.RETRY:
                if r.unread:
                    step = policy.AfterFailure(policy.Next.RETRY, policy.backoff(1))
                changes.append(
                    base
                    | {
                        "state": OutboxState.PENDING,
                        "claimed_at": None,
                        "not_before": now + step.delay,
                        "last_error": error,
                        # It may have landed (a timeout, a 5xx): look before sending again.
                        "verify": True,
                    }
                )
                log.warning(
                    "outbox message %s: not delivered (%s); retrying in %s",
                    job.id,
                    error,
                    step.delay,
                )
            else:
                if r.retryable:
                    error = f"gave up after {job.attempts} attempts: {error}"[:1000]
                changes.append(base | {"state": OutboxState.FAILED, "last_error": error})
                # A refusal (closed DMs, a deleted channel) is the platform's answer, not a
                # fault of the bot's: the feature's hook reacts to it.
                (log.warning if not r.retryable else log.error)(
                    "outbox message %s failed for good: %s", job.id, error
                )
                outcomes.append(
                    _outcome(job, OutboxState.FAILED, r, now, error=error, refused=not r.retryable)
                )
    if changes:
        # One statement per shape of change, by primary key: a batch costs a few round trips.
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            by_shape.setdefault(tuple(sorted(change)), []).append(change)
        for group in by_shape.values():
            await session.execute(update(OutboxMessage), group)
    for outcome in outcomes:
        await _run_hook(session, outcome)
    return outcomes


def _outcome(
    job: Job,
    state: OutboxState,
    r: Result,
    now: datetime,
    *,
    error: str | None = None,
    refused: bool = False,
) -> Outcome:
    return Outcome(
        **_identity(job),
        state=state,
        at=now,
        channel_id=r.channel_id,
        message_id=r.message_id,
        via=r.via,
        error=error,
        refused=refused,
        recovered=r.recovered,
        attempts=job.attempts,
    )


async def _run_hook(session: AsyncSession, outcome: Outcome) -> None:
    hooks = hooks_for(outcome.feature)
    hook = hooks.sent if outcome.state is OutboxState.SENT else hooks.failed
    if hook is None:
        return
    try:
        async with session.begin_nested():
            await hook(session, outcome)
    except Exception:
        # The record stands; only the feature's reaction is lost (and logged).
        log.exception("outbox message %s: the %s hook failed", outcome.id, outcome.feature)


async def store_dm_channel(
    session: AsyncSession, user_id: str, channel_id: str, now: datetime
) -> None:
    existing = await session.get(DmChannel, user_id)
    if existing is None:
        await insert_ignore(
            session,
            DmChannel,
            [{"platform_user_id": user_id, "channel_id": channel_id, "updated_at": now}],
            conflict=["platform_user_id"],
        )
    elif existing.channel_id != channel_id:
        existing.channel_id = channel_id
        existing.updated_at = now


async def forget_dm_channel(session: AsyncSession, user_id: str) -> None:
    existing = await session.get(DmChannel, user_id)
    if existing is not None:
        await session.delete(existing)


async def states(
    session: AsyncSession, keys: Sequence[str]
) -> dict[str, tuple[OutboxState, str | None]]:
    """Where these messages are (state and last error), for a reply that must say it truly."""
    if not keys:
        return {}
    rows = await session.execute(
        select(OutboxMessage.key, OutboxMessage.state, OutboxMessage.last_error).where(
            OutboxMessage.key.in_(list(keys))
        )
    )
    return {key: (state, error) for key, state, error in rows.all()}


async def results(
    session: AsyncSession, keys: Sequence[str]
) -> dict[str, tuple[OutboxState, str | None, str | None]]:
    """State, sent message id and last error of these messages (a feature that needs the id
    of what it sent, e.g. to start a thread from it)."""
    if not keys:
        return {}
    rows = await session.execute(
        select(
            OutboxMessage.key,
            OutboxMessage.state,
            OutboxMessage.sent_message_id,
            OutboxMessage.last_error,
        ).where(OutboxMessage.key.in_(list(keys)))
    )
    return {key: (state, mid, error) for key, state, mid, error in rows.all()}


async def retry_now(session: AsyncSession, keys: Sequence[str]) -> int:
    """The feature tries these again: failed ones (a refusal it knows may pass, e.g. a
    permission fixed since) go back to pending at once, verified first. Others are left alone
    (one waiting for its backoff keeps it)."""
    if not keys:
        return 0
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.key.in_(list(keys)), OutboxMessage.state == OutboxState.FAILED)
        .values(
            state=OutboxState.PENDING,
            attempts=0,
            not_before=None,
            verify=True,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)

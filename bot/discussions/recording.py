"""Thread messages recorded as evidence: once per message id, edits kept, deletions flagged.

``record_batch`` writes a whole batch in one transaction (the group commit of ``recorder``):

- new messages are inserted with the database deciding duplicates (unique message id), so the
  gateway, a RESUME replay and a history backfill can all deliver the same message and it is
  counted once;
- an edit keeps the text it replaces as a ``ContributionRevision``; a replayed edit with the
  same text changes nothing;
- a deletion sets ``deleted_at`` and never removes the row;
- ``late`` is set against the prompt's close and the author's approved extension;
- the thread's ``ChannelCursor`` advances in the same transaction as the rows, so history
  backfill resumes exactly after what is safely stored. It only ever covers a contiguous
  range: a history read moves it over what it read, but a live (gateway) message moves it only
  in a thread the recorder has read up to the present since its gateway session began
  (``read_through``); otherwise a live post would carry it past posts nobody has read yet
  (those made while the bot was offline, or as the thread was created).

Messages the bot posted on a student's behalf (``answers.parse_relayed``) are credited to that
student; the bot's other messages only move the cursor.

The parts live beside this module: ``incoming`` (the queued form, watched threads, people),
``lateness`` (what ``late`` is judged against), ``rows`` (driver-ready rows) and ``batch``
(one transaction); this module keeps their async callers and the names callers import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Unpack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import WireMessage
from bot.db.models import Contribution
from bot.discussions.batch import (
    BatchOptions,
    PreparedBatch,
    merge_prepared,
    prepare_batch,
    record_batch_sync,
    record_wired_batch_sync,
    write_batch_sync,
)
from bot.discussions.incoming import (
    GATEWAY_TAG,
    WATCH_AFTER_CLOSE,
    BatchResult,
    Incoming,
    MessageDelete,
    MessageEdit,
    cursors_sync,
    known_people_sync,
    person_ids_sync,
    snowflake_key,
    unwire,
    watched_threads,
    wire,
)
from bot.discussions.lateness import CloseTimes, load_close_times, load_close_times_sync

__all__ = [
    "GATEWAY_TAG",
    "WATCH_AFTER_CLOSE",
    "BatchOptions",
    "BatchResult",
    "CloseTimes",
    "Incoming",
    "MessageDelete",
    "MessageEdit",
    "PreparedBatch",
    "WireMessage",
    "cursors",
    "cursors_sync",
    "known_people",
    "known_people_sync",
    "live_message_ids",
    "load_close_times",
    "load_close_times_sync",
    "merge_prepared",
    "person_ids_sync",
    "prepare_batch",
    "record_batch",
    "record_batch_sync",
    "record_wired_batch_sync",
    "snowflake_key",
    "unwire",
    "watched_threads",
    "wire",
    "write_batch_sync",
]


# --------------------------------------------------------------------------- async callers
#
# The functions above are synchronous so the recorder can run a whole batch in its writer
# process (or thread) on its own connection (one event-loop round trip per batch: during a
# gateway backlog every await waits behind the reader). Async callers go through these wrappers.


async def cursors(session: AsyncSession, thread_ids: Iterable[str]) -> dict[str, str]:
    ids = list(thread_ids)
    return await session.run_sync(lambda s: cursors_sync(s, ids))


async def live_message_ids(session: AsyncSession, thread_ids: Iterable[str]) -> dict[str, set[str]]:
    """The stored, not deleted, messages of each thread (to notice deletions made offline)."""
    rows = await session.execute(
        select(Contribution.thread_id, Contribution.message_id).where(
            Contribution.thread_id.in_(list(thread_ids)), Contribution.deleted_at.is_(None)
        )
    )
    found: dict[str, set[str]] = {}
    for thread_id, message_id in rows.all():
        found.setdefault(thread_id, set()).add(message_id)
    return found


async def known_people(session: AsyncSession) -> dict[str, int]:
    return await session.run_sync(known_people_sync)


async def record_batch(
    session: AsyncSession,
    threads: Mapping[str, int],
    messages: Sequence[Incoming],
    edits: Sequence[MessageEdit] = (),
    deletes: Sequence[MessageDelete] = (),
    **options: Unpack[BatchOptions],
) -> BatchResult:
    """``record_batch_sync`` in the caller's async transaction."""
    return await session.run_sync(
        lambda s: record_batch_sync(s, threads, messages, edits, deletes, **options)
    )

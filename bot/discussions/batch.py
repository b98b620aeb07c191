"""One batch of thread messages written in one transaction (see ``bot.discussions.recording``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.access.identity import ChatUser
from bot.chat import ChatMessage, MessageLinks, WireMessage
from bot.db.models import ChannelCursor, Contribution, ContributionRevision, ContributionVia
from bot.discussions.answers import parse_relayed
from bot.discussions.incoming import (
    IN_CHUNK,
    USER_MENTION,
    BatchResult,
    Incoming,
    MessageDelete,
    MessageEdit,
    person_ids_sync,
    snowflake_key,
    unwire,
)
from bot.discussions.lateness import CloseTimes, is_late, load_close_times_sync
from bot.discussions.rows import RowValues, is_sqlite
from bot.discussions.text import count_words

_Entry = tuple[
    ChatMessage, int, str, ChatUser | None, str, str | None, Sequence[str], ContributionVia
]


@dataclass
class PreparedBatch:
    """A batch with its rows built as far as the caches allow, without touching the database.

    ``prepare_batch`` builds every row whose author and prompt the caches know, and
    ``write_batch_sync`` builds the rest (``pending``: a newcomer's first messages, or all of
    them once the cached close times have expired) after asking the database. Both run in the
    recorder's writer (``bot.sqlite_offload.discussion_writer``), off the event loop.
    """

    sqlite: bool
    now: datetime
    seen: int
    rows: list[tuple[Any, ...]]
    pending: list[_Entry]
    newest: dict[str, str]
    edits: list[MessageEdit]
    deletes: Sequence[MessageDelete]


def prepare_batch(
    threads: Mapping[str, int],
    messages: Sequence[Incoming],
    edits: Sequence[MessageEdit] = (),
    deletes: Sequence[MessageDelete] = (),
    *,
    sqlite: bool,
    bot_user_id: str | None,
    now: datetime,
    people_cache: Mapping[str, int] | None = None,
    close_times: CloseTimes | None = None,
    read_through: Collection[str] | None = None,
    links: MessageLinks | None = None,
) -> PreparedBatch:
    """Pure: turn queued messages into driver rows, without touching the database.

    ``read_through``: the threads where a gateway message may move the cursor (None: all).
    ``links``: the platform's, to read which post a relayed reply answers (None: not read).
    """
    values = RowValues(sqlite, now)
    known: Mapping[str, int] = people_cache or {}
    closes = close_times.closes if close_times is not None else {}
    extensions = close_times.extensions if close_times is not None else {}
    newest: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    pending: list[_Entry] = []
    row = values.row
    for incoming in messages:
        message = incoming.message
        channel_id = message.channel_id
        prompt_id = threads.get(channel_id)
        if prompt_id is None:
            continue
        message_id = message.id
        current = newest.get(channel_id)
        if (
            read_through is not None
            and incoming.via is ContributionVia.GATEWAY
            and channel_id not in read_through
        ):
            pass  # a live message past an unread gap: recorded, but the cursor stays
        elif (
            current is None
            or len(message_id) > len(current)
            or (len(message_id) == len(current) and message_id > current)
        ):  # snowflake_key order, inline: this loop runs for every message
            newest[channel_id] = message_id
        entry: _Entry
        if not message.author_is_bot:
            author_id = message.author.platform_user_id
            person_id = known.get(author_id)
            close = closes.get(prompt_id)
            if person_id is not None and close is not None:
                created = message.created_at
                late = (
                    is_late(created, prompt_id, person_id, closes, extensions)
                    if extensions
                    else created > close
                )
                rows.append(
                    row(
                        prompt_id,
                        person_id,
                        author_id,
                        message,
                        message.content,
                        message.reply_to_id,
                        message.mention_ids,
                        late,
                        incoming.via,
                    )
                )
                continue
            entry = (
                message,
                prompt_id,
                author_id,
                message.author,
                message.content,
                message.reply_to_id,
                message.mention_ids,
                incoming.via,
            )
        else:
            # The bot's own messages count only when it relayed a student's answer.
            if bot_user_id is None or message.author.platform_user_id != bot_user_id:
                continue
            relayed = parse_relayed(message.content, links)
            if relayed is None:
                continue
            entry = (
                message,
                prompt_id,
                relayed.author_platform_id,
                None,
                relayed.body,
                relayed.parent_message_id,
                tuple(dict.fromkeys(USER_MENTION.findall(relayed.body))),
                ContributionVia.MODAL,
            )
        person_id = known.get(entry[2])
        if person_id is None or prompt_id not in closes:
            pending.append(entry)
            continue
        rows.append(
            row(
                prompt_id,
                person_id,
                entry[2],
                message,
                entry[4],
                entry[5],
                entry[6],
                is_late(message.created_at, prompt_id, person_id, closes, extensions),
                entry[7],
            )
        )
    return PreparedBatch(
        sqlite=sqlite,
        now=now,
        seen=len(messages),
        rows=rows,
        pending=pending,
        newest=newest,
        edits=[e for e in edits if e.message.channel_id in threads and not e.message.author_is_bot],
        deletes=deletes,
    )


def merge_prepared(parts: Sequence[PreparedBatch]) -> PreparedBatch:
    """Consecutive slices of one batch, prepared apart, as the one batch they make.

    The recorder prepares a batch in slices on the event loop, letting the previous batch's
    transaction move between them (``Recorder``). Rows and pending entries keep their order;
    each thread's newest message is the newest of its slices'; edits and deletions are the
    first slice's (the others are prepared without any).
    """
    first = parts[0]
    newest: dict[str, str] = {}
    for part in parts:
        for channel_id, message_id in part.newest.items():
            current = newest.get(channel_id)
            if current is None or snowflake_key(message_id) > snowflake_key(current):
                newest[channel_id] = message_id
    return PreparedBatch(
        sqlite=first.sqlite,
        now=first.now,
        seen=sum(part.seen for part in parts),
        rows=[row for part in parts for row in part.rows],
        pending=[entry for part in parts for entry in part.pending],
        newest=newest,
        edits=first.edits,
        deletes=first.deletes,
    )


def write_batch_sync(
    session: Session,
    threads: Mapping[str, int],
    batch: PreparedBatch,
    *,
    people_cache: Mapping[str, int] | None = None,
    close_times: CloseTimes | None = None,
) -> BatchResult:
    """Store a prepared batch in the caller's transaction (see the module docstring).

    ``people_cache`` (platform id -> person id) saves looking up authors already resolved; the
    ids resolved here come back in ``result.people`` for the caller to cache once committed.
    ``close_times`` likewise saves two queries per batch (``late`` is a record flag; scores
    are always computed from the times themselves, and extensions and early closes re-judge
    the flags they change).
    """
    result = BatchResult(seen=batch.seen)
    values = RowValues(batch.sqlite, batch.now)
    authors: dict[str, ChatUser | None] = {}
    for entry in batch.pending:
        if entry[3] is not None or entry[2] not in authors:
            authors[entry[2]] = entry[3]
    for edit in batch.edits:
        authors.setdefault(edit.message.author.platform_user_id, edit.message.author)
    people = person_ids_sync(session, authors, people_cache) if authors else {}
    result.people = people
    involved = {e[1] for e in batch.pending} | {threads[e.message.channel_id] for e in batch.edits}
    times = close_times if close_times is not None else CloseTimes()
    missing = involved - set(times.closes)
    if missing:
        loaded = load_close_times_sync(session, missing)
        times = CloseTimes(
            {**times.closes, **loaded.closes}, {**times.extensions, **loaded.extensions}
        )
    closes, extensions = times.closes, times.extensions

    rows = list(batch.rows)
    for message, prompt_id, author_id, _author, body, parent_id, mentions, via in batch.pending:
        person_id = people.get(author_id)
        rows.append(
            values.row(
                prompt_id,
                person_id,
                author_id,
                message,
                body,
                parent_id,
                mentions,
                is_late(message.created_at, prompt_id, person_id, closes, extensions),
                via,
            )
        )
    result.inserted = values.insert(session, rows)

    if batch.edits:
        result.revised = _apply_edits(
            session, batch.edits, threads, people, closes, extensions, values, now=batch.now
        )
    if batch.deletes:
        result.deleted = _apply_deletes(session, batch.deletes)
    if batch.newest:
        _advance_cursors(session, batch.newest, now=batch.now)
    return result


class BatchOptions(TypedDict, total=False):
    """``record_batch_sync``'s keyword options, which its wrappers pass on unchanged."""

    bot_user_id: Required[str | None]
    now: Required[datetime]
    people_cache: Mapping[str, int] | None
    close_times: CloseTimes | None
    read_through: Collection[str] | None
    links: MessageLinks | None


def record_batch_sync(
    session: Session,
    threads: Mapping[str, int],
    messages: Sequence[Incoming],
    edits: Sequence[MessageEdit] = (),
    deletes: Sequence[MessageDelete] = (),
    **options: Unpack[BatchOptions],
) -> BatchResult:
    """``prepare_batch`` then ``write_batch_sync``, in the caller's transaction."""
    batch = prepare_batch(threads, messages, edits, deletes, sqlite=is_sqlite(session), **options)
    return write_batch_sync(
        session,
        threads,
        batch,
        people_cache=options.get("people_cache"),
        close_times=options.get("close_times"),
    )


def record_wired_batch_sync(
    session: Session,
    threads: Mapping[str, int],
    messages: Sequence[WireMessage],
    edits: Sequence[MessageEdit] = (),
    deletes: Sequence[MessageDelete] = (),
    **options: Unpack[BatchOptions],
) -> BatchResult:
    """``record_batch_sync`` for the recorder's queued form: everything after the queue, from
    turning it back into messages to the commit, runs wherever the writer runs."""
    return record_batch_sync(
        session, threads, [unwire(m) for m in messages], edits, deletes, **options
    )


def _apply_edits(
    session: Session,
    edits: Sequence[MessageEdit],
    threads: Mapping[str, int],
    people: Mapping[str, int],
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
    values: RowValues,
    *,
    now: datetime,
) -> int:
    """Keep each replaced text as a revision, identified by the edit's time (replays skip)."""
    ids = sorted({e.message.id for e in edits})
    existing = {
        c.message_id: c
        for c in (session.execute(select(Contribution).where(Contribution.message_id.in_(ids))))
        .scalars()
        .all()
    }
    revisions: dict[int, dict[datetime, int]] = {}
    if existing:
        for contribution_id, revision, replaced_at in (
            session.execute(
                select(
                    ContributionRevision.contribution_id,
                    ContributionRevision.revision,
                    ContributionRevision.replaced_at,
                ).where(ContributionRevision.contribution_id.in_([c.id for c in existing.values()]))
            )
        ).all():
            revisions.setdefault(contribution_id, {})[replaced_at] = revision
    revised = 0
    for edit in edits:
        message = edit.message
        contribution = existing.get(message.id)
        if contribution is None:
            # Edited before we ever stored it (e.g. while offline): record it as it is now.
            prompt_id = threads[message.channel_id]
            person_id = people.get(message.author.platform_user_id)
            values.insert(
                session,
                [
                    values.row(
                        prompt_id,
                        person_id,
                        message.author.platform_user_id,
                        message,
                        message.content,
                        message.reply_to_id,
                        message.mention_ids,
                        is_late(message.created_at, prompt_id, person_id, closes, extensions),
                        ContributionVia.GATEWAY,
                    )
                ],
            )
            continue
        replaced_at = message.edited_at or now
        known = revisions.setdefault(contribution.id, {})
        if replaced_at in known:
            continue  # this edit is already recorded (a replay)
        if contribution.content != message.content:
            old_text, old_words = contribution.content, contribution.words
        elif edit.before is not None and edit.before != message.content:
            old_text, old_words = edit.before, count_words(edit.before)
        else:
            continue  # nothing in the text changed (an embed or a pin)
        number = max(known.values(), default=0) + 1
        known[replaced_at] = number
        session.add(
            ContributionRevision(
                contribution_id=contribution.id,
                revision=number,
                content=old_text,
                words=old_words,
                replaced_at=replaced_at,
            )
        )
        contribution.content = message.content
        contribution.words = count_words(message.content)
        contribution.edited_at = replaced_at
        contribution.mentions = list(message.mention_ids)
        revised += 1
    session.flush()
    return revised


def _apply_deletes(session: Session, deletes: Sequence[MessageDelete]) -> int:
    total = 0
    by_time: dict[datetime, list[str]] = {}
    for d in deletes:
        by_time.setdefault(d.deleted_at, []).append(d.message_id)
    for at, ids in by_time.items():
        for start in range(0, len(ids), IN_CHUNK):
            result = session.execute(
                update(Contribution)
                .where(
                    Contribution.message_id.in_(ids[start : start + IN_CHUNK]),
                    Contribution.deleted_at.is_(None),
                )
                .values(deleted_at=at)
                .execution_options(synchronize_session=False)
            )
            total += int(getattr(result, "rowcount", 0) or 0)
    return total


def _advance_cursors(session: Session, newest: Mapping[str, str], *, now: datetime) -> None:
    """One upsert per thread; the stored cursor only ever moves to a newer message."""
    table = ChannelCursor.__table__
    assert isinstance(table, Table)
    bind = session.bind
    dialect = bind.dialect.name if bind is not None else ""
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for channel_id, message_id in newest.items():
        stmt = insert_(table).values(
            channel_id=channel_id, last_message_id=message_id, updated_at=now
        )
        new_id, old_id = stmt.excluded.last_message_id, table.c.last_message_id
        newer = or_(
            func.length(new_id) > func.length(old_id),
            and_(func.length(new_id) == func.length(old_id), new_id > old_id),
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.channel_id],
                set_={"last_message_id": new_id, "updated_at": stmt.excluded.updated_at},
                where=newer,
            )
        )

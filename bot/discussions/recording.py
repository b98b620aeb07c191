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
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.access.identity import ChatUser, people_of_sync
from bot.chat import ChatMessage, WireMessage, unwire_message, wire_message
from bot.db.models import (
    ChannelCursor,
    Contribution,
    ContributionRevision,
    ContributionVia,
    DiscussionPrompt,
    Extension,
    ExtensionStatus,
    Person,
    PromptStatus,
)
from bot.discussions.answers import parse_relayed
from bot.discussions.text import count_words

__all__ = [
    "GATEWAY_TAG",
    "BatchResult",
    "CloseTimes",
    "Incoming",
    "MessageDelete",
    "MessageEdit",
    "PreparedBatch",
    "WireMessage",
    "cursors",
    "load_close_times",
    "prepare_batch",
    "record_batch",
    "record_wired_batch_sync",
    "unwire",
    "watched_threads",
    "wire",
    "write_batch_sync",
]

_IN_CHUNK = 500
_USER_MENTION = re.compile(r"<@!?(\d+)>")
#: Prompts stay watched this long after closing: tutors' late edits, extension answers.
WATCH_AFTER_CLOSE = timedelta(days=60)


class Incoming(NamedTuple):
    """A queued message and how it arrived (a tuple: one is made per gateway message)."""

    message: ChatMessage
    via: ContributionVia = ContributionVia.GATEWAY


#: The tag of a message queued from the gateway (``bot.chat.WireMessage``'s last field).
GATEWAY_TAG = ContributionVia.GATEWAY.value


def wire(message: ChatMessage, via: ContributionVia = ContributionVia.GATEWAY) -> WireMessage:
    """The recorder's queued form (``bot.chat.WireMessage``, tagged with how it arrived)."""
    return wire_message(message, via.value)


def unwire(w: WireMessage) -> Incoming:
    """The queued form back as an ``Incoming`` (in the writer, off the event loop)."""
    return Incoming(unwire_message(w), _VIA_BY_TEXT[w[13]])


@dataclass(frozen=True)
class MessageEdit:
    """A message as it is after an edit, with the text before it when the platform still had it.

    ``before`` matters when an edit races the message's own creation event: discord.py updates
    its cached message in place, so the creation handler may already see the edited text.
    """

    message: ChatMessage
    before: str | None = None


@dataclass(frozen=True)
class MessageDelete:
    message_id: str
    channel_id: str
    deleted_at: datetime


@dataclass
class BatchResult:
    inserted: int = 0
    revised: int = 0
    deleted: int = 0
    seen: int = 0
    people: dict[str, int] = field(default_factory=dict)


def snowflake_key(message_id: str) -> tuple[int, str]:
    """Order platform message ids: numeric snowflakes by value, anything else as text."""
    return (len(message_id), message_id)


async def watched_threads(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    """Threads whose messages are evidence right now: thread id -> prompt id."""
    rows = await session.execute(
        select(DiscussionPrompt.thread_id, DiscussionPrompt.id).where(
            DiscussionPrompt.thread_id.is_not(None),
            DiscussionPrompt.status.in_(
                [PromptStatus.OPEN, PromptStatus.CLOSING, PromptStatus.CLOSED]
            ),
            or_(
                DiscussionPrompt.released_at.is_(None),
                DiscussionPrompt.closes_at > now - WATCH_AFTER_CLOSE,
            ),
        )
    )
    return {str(thread_id): prompt_id for thread_id, prompt_id in rows.all()}


def cursors_sync(session: Session, thread_ids: Iterable[str]) -> dict[str, str]:
    ids = list(thread_ids)
    found: dict[str, str] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        rows = session.execute(
            select(ChannelCursor.channel_id, ChannelCursor.last_message_id).where(
                ChannelCursor.channel_id.in_(ids[start : start + _IN_CHUNK])
            )
        )
        found.update({c: m for c, m in rows.all()})
    return found


# --------------------------------------------------------------------------- people


def known_people_sync(session: Session) -> dict[str, int]:
    """Every roster person already linked to a platform id: platform id -> person id."""
    rows = session.execute(
        select(Person.platform_user_id, Person.id).where(Person.platform_user_id.is_not(None))
    )
    return {str(uid): pid for uid, pid in rows.all()}


def person_ids_sync(
    session: Session,
    users: Mapping[str, ChatUser | None],
    known: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Roster person ids of platform users, linking a roster username on first sight.

    ``known`` is a cache of ids already resolved (a person's platform id never changes).
    """
    found: dict[str, int] = {}
    if known:
        found.update({uid: known[uid] for uid in users if uid in known})
    rest = {uid: user for uid, user in users.items() if uid not in found}
    if rest:
        found.update(people_of_sync(session, rest))
    return found


@dataclass
class CloseTimes:
    """Each prompt's close and each approved extension: what ``late`` is judged against."""

    closes: dict[int, datetime] = field(default_factory=dict)
    extensions: dict[tuple[int, int], datetime] = field(default_factory=dict)


def load_close_times_sync(session: Session, prompt_ids: Iterable[int]) -> CloseTimes:
    ids = sorted(set(prompt_ids))
    found = CloseTimes()
    if not ids:
        return found
    for pid, closes_at in (
        session.execute(
            select(DiscussionPrompt.id, DiscussionPrompt.closes_at).where(
                DiscussionPrompt.id.in_(ids)
            )
        )
    ).all():
        found.closes[pid] = closes_at
    for pid, person_id, due in (
        session.execute(
            select(Extension.prompt_id, Extension.person_id, Extension.new_due_at).where(
                Extension.prompt_id.in_(ids), Extension.status == ExtensionStatus.APPROVED
            )
        )
    ).all():
        key = (int(pid), person_id)
        found.extensions[key] = max(due, found.extensions.get(key, due))
    return found


def _is_late(
    created_at: datetime,
    prompt_id: int,
    person_id: int | None,
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
) -> bool:
    close = closes[prompt_id]
    if person_id is not None:
        extended = extensions.get((prompt_id, person_id))
        if extended is not None and extended > close:
            close = extended
    return created_at > close


# --------------------------------------------------------------------------- the batch


_COLUMNS = (
    "prompt_id",
    "person_id",
    "author_platform_id",
    "message_id",
    "parent_message_id",
    "thread_id",
    "mentions",
    "content",
    "words",
    "created_at",
    "edited_at",
    "deleted_at",
    "late",
    "via",
    "recorded_at",
)
_SQLITE_ROWS_PER_STATEMENT = 500  # 7,500 parameters, well inside SQLite's limit of 32,766
_ROW_PLACEHOLDERS = "(" + ", ".join("?" for _ in _COLUMNS) + ")"


@functools.cache
def _sqlite_insert(rows: int) -> str:
    """One INSERT of ``rows`` rows (multi-row VALUES), cached per size."""
    return (
        f"INSERT INTO contributions ({', '.join(_COLUMNS)}) VALUES "
        + ", ".join(_ROW_PLACEHOLDERS for _ in range(rows))
        + " ON CONFLICT (message_id) DO NOTHING"
    )


def _sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME stores (UTC, no offset, microseconds)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


_VIA_TEXT = {via: via.value for via in ContributionVia}
_VIA_BY_TEXT = {via.value: via for via in ContributionVia}


class _Values:
    """Builds contribution rows in column order, in the form the session's driver takes.

    This is the hot path of group commit. On SQLite the rows go to the driver as plain values,
    in the exact text forms SQLAlchemy's column types store (the storage tests read them back
    through the models): SQLAlchemy's per-value bind processing would otherwise cost more than
    parsing the message did. PostgreSQL takes the model's Python values.
    """

    def __init__(self, sqlite: bool, now: datetime) -> None:
        self.sqlite = sqlite
        self.now: Any = _sqlite_time(now) if sqlite else now

    def row(
        self,
        prompt_id: int,
        person_id: int | None,
        author_id: str,
        message: ChatMessage,
        body: str,
        parent_id: str | None,
        mentions: Sequence[str],
        late: bool,
        via: ContributionVia,
        /,
    ) -> tuple[Any, ...]:
        """One row; positional only, because keyword calls cost a visible share per message."""
        if self.sqlite:
            return (
                prompt_id,
                person_id,
                author_id,
                message.id,
                parent_id,
                message.channel_id,
                json.dumps(list(mentions)) if mentions else "[]",
                body,
                count_words(body),
                _sqlite_time(message.created_at),
                _sqlite_time(message.edited_at),
                None,
                1 if late else 0,
                _VIA_TEXT[via],
                self.now,
            )
        return (
            prompt_id,
            person_id,
            author_id,
            message.id,
            parent_id,
            message.channel_id,
            list(mentions),
            body,
            count_words(body),
            message.created_at,
            message.edited_at,
            None,
            late,
            via,
            self.now,
        )

    def insert(self, session: Session, rows: list[tuple[Any, ...]]) -> int:
        """Insert, skipping message ids already recorded; returns how many were new.

        SQLite takes them 500 rows per statement rather than by executemany: the driver
        releases the GIL once per statement executed, and a writer thread that releases it
        once per row waits behind the busy event loop for every row. The statement's rowcount
        counts only rows really inserted. PostgreSQL uses INSERT ... ON CONFLICT ... RETURNING.
        """
        if not rows:
            return 0
        if self.sqlite != _is_sqlite(session):
            raise ValueError("the batch was prepared for another database")
        if not self.sqlite:
            table = Contribution.__table__
            assert isinstance(table, Table)
            stmt = (
                postgresql.insert(table)
                .on_conflict_do_nothing(index_elements=["message_id"])
                .returning(table.c.id)
            )
            named = [dict(zip(_COLUMNS, r, strict=True)) for r in rows]
            return len(session.execute(stmt, named).all())
        connection = session.connection()
        inserted = 0
        for start in range(0, len(rows), _SQLITE_ROWS_PER_STATEMENT):
            chunk = rows[start : start + _SQLITE_ROWS_PER_STATEMENT]
            params = tuple(chain.from_iterable(chunk))
            result = connection.exec_driver_sql(_sqlite_insert(len(chunk)), params)
            inserted += int(result.rowcount or 0)
        return inserted


def _is_sqlite(session: Session) -> bool:
    bind = session.bind
    return bind is not None and bind.dialect.name == "sqlite"


#: A message to record: (message, prompt id, author's platform id, author as the platform
#: reported them (None for an answer the bot relayed), text, parent message id, mentions, via).
_Entry = tuple[
    ChatMessage, int, str, ChatUser | None, str, str | None, Sequence[str], ContributionVia
]


@dataclass
class PreparedBatch:
    """A batch with its rows built as far as the caches allow, without touching the database.

    ``prepare_batch`` builds every row whose author and prompt the caches know, and
    ``write_batch_sync`` builds the rest (``pending``: a newcomer's first messages, or all of
    them once the cached close times have expired) after asking the database. Both run in the
    recorder's writer (``bot.discussions.writer``), off the event loop.
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
) -> PreparedBatch:
    """Pure: turn queued messages into driver rows, without touching the database.

    ``read_through``: the threads where a gateway message may move the cursor (None: all).
    """
    values = _Values(sqlite, now)
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
                    _is_late(created, prompt_id, person_id, closes, extensions)
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
            relayed = parse_relayed(message.content)
            if relayed is None:
                continue
            entry = (
                message,
                prompt_id,
                relayed.author_platform_id,
                None,
                relayed.body,
                relayed.parent_message_id,
                tuple(dict.fromkeys(_USER_MENTION.findall(relayed.body))),
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
                _is_late(message.created_at, prompt_id, person_id, closes, extensions),
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
    values = _Values(batch.sqlite, batch.now)
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
                _is_late(message.created_at, prompt_id, person_id, closes, extensions),
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


def record_batch_sync(
    session: Session,
    threads: Mapping[str, int],
    messages: Sequence[Incoming],
    edits: Sequence[MessageEdit] = (),
    deletes: Sequence[MessageDelete] = (),
    *,
    bot_user_id: str | None,
    now: datetime,
    people_cache: Mapping[str, int] | None = None,
    close_times: CloseTimes | None = None,
    read_through: Collection[str] | None = None,
) -> BatchResult:
    """``prepare_batch`` then ``write_batch_sync``, in the caller's transaction."""
    batch = prepare_batch(
        threads,
        messages,
        edits,
        deletes,
        sqlite=_is_sqlite(session),
        bot_user_id=bot_user_id,
        now=now,
        people_cache=people_cache,
        close_times=close_times,
        read_through=read_through,
    )
    return write_batch_sync(
        session, threads, batch, people_cache=people_cache, close_times=close_times
    )


def record_wired_batch_sync(
    session: Session,
    threads: Mapping[str, int],
    messages: Sequence[WireMessage],
    edits: Sequence[MessageEdit] = (),
    deletes: Sequence[MessageDelete] = (),
    *,
    bot_user_id: str | None,
    now: datetime,
    people_cache: Mapping[str, int] | None = None,
    close_times: CloseTimes | None = None,
    read_through: Collection[str] | None = None,
) -> BatchResult:
    """``record_batch_sync`` for the recorder's queued form: everything after the queue, from
    turning it back into messages to the commit, runs wherever the writer runs."""
    return record_batch_sync(
        session,
        threads,
        [unwire(m) for m in messages],
        edits,
        deletes,
        bot_user_id=bot_user_id,
        now=now,
        people_cache=people_cache,
        close_times=close_times,
        read_through=read_through,
    )


def _apply_edits(
    session: Session,
    edits: Sequence[MessageEdit],
    threads: Mapping[str, int],
    people: Mapping[str, int],
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
    values: _Values,
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
                        _is_late(message.created_at, prompt_id, person_id, closes, extensions),
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
        for start in range(0, len(ids), _IN_CHUNK):
            result = session.execute(
                update(Contribution)
                .where(
                    Contribution.message_id.in_(ids[start : start + _IN_CHUNK]),
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


async def load_close_times(session: AsyncSession, prompt_ids: Iterable[int]) -> CloseTimes:
    ids = list(prompt_ids)
    return await session.run_sync(lambda s: load_close_times_sync(s, ids))


async def record_batch(
    session: AsyncSession,
    threads: Mapping[str, int],
    messages: Sequence[Incoming],
    edits: Sequence[MessageEdit] = (),
    deletes: Sequence[MessageDelete] = (),
    *,
    bot_user_id: str | None,
    now: datetime,
    people_cache: Mapping[str, int] | None = None,
    close_times: CloseTimes | None = None,
) -> BatchResult:
    """``record_batch_sync`` in the caller's async transaction."""
    return await session.run_sync(
        lambda s: record_batch_sync(
            s,
            threads,
            messages,
            edits,
            deletes,
            bot_user_id=bot_user_id,
            now=now,
            people_cache=people_cache,
            close_times=close_times,
        )
    )

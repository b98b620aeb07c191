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
  backfill resumes exactly after what is safely stored.

Messages the bot posted on a student's behalf (``answers.parse_relayed``) are credited to that
student; the bot's other messages only move the cursor.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.access.identity import ChatUser
from bot.chat import ChatMessage
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
    "BatchResult",
    "CloseTimes",
    "Incoming",
    "MessageDelete",
    "MessageEdit",
    "cursors",
    "load_close_times",
    "record_batch",
    "watched_threads",
]

_IN_CHUNK = 500
_USER_MENTION = re.compile(r"<@!?(\d+)>")
#: Prompts stay watched this long after closing: tutors' late edits, extension answers.
WATCH_AFTER_CLOSE = timedelta(days=60)


@dataclass(frozen=True)
class Incoming:
    message: ChatMessage
    via: ContributionVia = ContributionVia.GATEWAY


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
    ids = [uid for uid in users if uid not in found]
    for start in range(0, len(ids), _IN_CHUNK):
        rows = session.execute(
            select(Person.platform_user_id, Person.id).where(
                Person.platform_user_id.in_(ids[start : start + _IN_CHUNK])
            )
        )
        found.update({str(uid): pid for uid, pid in rows.all()})
    by_name = {
        user.username.lower().lstrip("@"): uid
        for uid, user in users.items()
        if uid not in found and user is not None
    }
    if by_name:
        rows = session.execute(
            select(Person).where(
                Person.platform_username.in_(list(by_name)), Person.platform_user_id.is_(None)
            )
        )
        candidates: dict[str, list[Person]] = {}
        for person in rows.scalars().all():
            candidates.setdefault(str(person.platform_username), []).append(person)
        for name, people in candidates.items():
            if len(people) == 1:
                people[0].platform_user_id = by_name[name]
                found[by_name[name]] = people[0].id
        session.flush()
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


@dataclass(frozen=True)
class _Row:
    message: ChatMessage
    prompt_id: int
    author_id: str
    author: ChatUser | None
    body: str
    parent_id: str | None
    mentions: tuple[str, ...]
    via: ContributionVia


def _as_row(incoming: Incoming, prompt_id: int, bot_user_id: str | None) -> _Row | None:
    message = incoming.message
    if message.author_is_bot:
        if bot_user_id is None or message.author.platform_user_id != bot_user_id:
            return None
        relayed = parse_relayed(message.content)
        if relayed is None:
            return None
        mentions = tuple(dict.fromkeys(_USER_MENTION.findall(relayed.body)))
        return _Row(
            message,
            prompt_id,
            relayed.author_platform_id,
            None,
            relayed.body,
            relayed.parent_message_id,
            mentions,
            ContributionVia.MODAL,
        )
    return _Row(
        message,
        prompt_id,
        message.author.platform_user_id,
        message.author,
        message.content,
        message.reply_to_id,
        message.mention_ids,
        incoming.via,
    )


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
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    mentions = row["mentions"]
    return (
        row["prompt_id"],
        row["person_id"],
        row["author_platform_id"],
        row["message_id"],
        row["parent_message_id"],
        row["thread_id"],
        json.dumps(mentions) if mentions else "[]",
        row["content"],
        row["words"],
        _sqlite_time(row["created_at"]),
        _sqlite_time(row["edited_at"]),
        _sqlite_time(row["deleted_at"]),
        1 if row["late"] else 0,
        ContributionVia(row["via"]).value,
        _sqlite_time(row["recorded_at"]),
    )


def _insert_ignore_sync(session: Session, rows: list[dict[str, Any]]) -> int:
    """``bot.db.ops.insert_ignore`` for a synchronous session (PostgreSQL: RETURNING counts)."""
    table = Contribution.__table__
    assert isinstance(table, Table)
    stmt = (
        postgresql.insert(table)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(table.c.id)
    )
    return len(session.execute(stmt, rows).all())


def _insert_contributions(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert, skipping message ids already recorded; returns how many were new.

    This is the hot path of group commit. On SQLite the rows go to the driver as plain values,
    in the exact text forms SQLAlchemy's column types store (the storage tests read them back
    through the models): SQLAlchemy's per-value bind processing would otherwise cost more than
    parsing the message did. They go 500 rows per statement rather than by executemany: the
    driver releases the GIL once per statement executed, and a writer thread that releases it
    once per row waits behind the busy event loop for every row. The statement's rowcount
    counts only rows really inserted. PostgreSQL uses INSERT ... ON CONFLICT ... RETURNING.
    """
    if not rows:
        return 0
    bind = session.bind
    if bind is not None and bind.dialect.name == "sqlite":
        connection = session.connection()
        inserted = 0
        for start in range(0, len(rows), _SQLITE_ROWS_PER_STATEMENT):
            chunk = rows[start : start + _SQLITE_ROWS_PER_STATEMENT]
            params = tuple(value for row in chunk for value in _sqlite_row(row))
            result = connection.exec_driver_sql(_sqlite_insert(len(chunk)), params)
            inserted += int(result.rowcount or 0)
        return inserted
    return _insert_ignore_sync(session, rows)


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
) -> BatchResult:
    """Store one batch in the caller's transaction (see the module docstring).

    ``people_cache`` (platform id -> person id) saves looking up authors already resolved; the
    ids resolved here come back in ``result.people`` for the caller to cache once committed.
    ``close_times`` likewise saves two queries per batch (``late`` is a record flag; scores
    are always computed from the times themselves, and extensions and early closes re-judge
    the flags they change).
    """
    result = BatchResult(seen=len(messages))
    newest: dict[str, str] = {}
    rows: list[_Row] = []
    for incoming in messages:
        message = incoming.message
        prompt_id = threads.get(message.channel_id)
        if prompt_id is None:
            continue
        current = newest.get(message.channel_id)
        if current is None or snowflake_key(message.id) > snowflake_key(current):
            newest[message.channel_id] = message.id
        row = _as_row(incoming, prompt_id, bot_user_id)
        if row is not None:
            rows.append(row)

    edit_rows = [
        e for e in edits if e.message.channel_id in threads and not e.message.author_is_bot
    ]

    authors: dict[str, ChatUser | None] = {}
    for row in rows:
        if row.author is not None or row.author_id not in authors:
            authors[row.author_id] = row.author
    for edit in edit_rows:
        authors.setdefault(edit.message.author.platform_user_id, edit.message.author)
    people = person_ids_sync(session, authors, people_cache) if authors else {}
    result.people = people
    involved = {r.prompt_id for r in rows} | {threads[e.message.channel_id] for e in edit_rows}
    times = close_times if close_times is not None else CloseTimes()
    missing = involved - set(times.closes)
    if missing:
        loaded = load_close_times_sync(session, missing)
        times = CloseTimes(
            {**times.closes, **loaded.closes}, {**times.extensions, **loaded.extensions}
        )
    closes, extensions = times.closes, times.extensions

    if rows:
        values = []
        for row in rows:
            person_id = people.get(row.author_id)
            values.append(
                {
                    "prompt_id": row.prompt_id,
                    "person_id": person_id,
                    "author_platform_id": row.author_id,
                    "message_id": row.message.id,
                    "parent_message_id": row.parent_id,
                    "thread_id": row.message.channel_id,
                    "mentions": list(row.mentions),
                    "content": row.body,
                    "words": count_words(row.body),
                    "created_at": row.message.created_at,
                    "edited_at": row.message.edited_at,
                    "deleted_at": None,
                    "late": _is_late(
                        row.message.created_at, row.prompt_id, person_id, closes, extensions
                    ),
                    "via": row.via,
                    "recorded_at": now,
                }
            )
        result.inserted = _insert_contributions(session, values)

    if edit_rows:
        result.revised = _apply_edits(
            session, edit_rows, threads, people, closes, extensions, now=now
        )
    if deletes:
        result.deleted = _apply_deletes(session, deletes)
    if newest:
        _advance_cursors(session, newest, now=now)
    return result


def _apply_edits(
    session: Session,
    edits: Sequence[MessageEdit],
    threads: Mapping[str, int],
    people: Mapping[str, int],
    closes: Mapping[int, datetime],
    extensions: Mapping[tuple[int, int], datetime],
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
            _insert_contributions(
                session,
                [
                    {
                        "prompt_id": prompt_id,
                        "person_id": person_id,
                        "author_platform_id": message.author.platform_user_id,
                        "message_id": message.id,
                        "parent_message_id": message.reply_to_id,
                        "thread_id": message.channel_id,
                        "mentions": list(message.mention_ids),
                        "content": message.content,
                        "words": count_words(message.content),
                        "created_at": message.created_at,
                        "edited_at": message.edited_at,
                        "deleted_at": None,
                        "late": _is_late(
                            message.created_at, prompt_id, person_id, closes, extensions
                        ),
                        "via": ContributionVia.GATEWAY,
                        "recorded_at": now,
                    }
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
# The functions above are synchronous so the recorder can run a whole batch in a worker thread
# on its own connection (one event-loop round trip per batch: during a gateway backlog every
# await waits behind the reader). Async callers go through these wrappers.


async def cursors(session: AsyncSession, thread_ids: Iterable[str]) -> dict[str, str]:
    ids = list(thread_ids)
    return await session.run_sync(lambda s: cursors_sync(s, ids))


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

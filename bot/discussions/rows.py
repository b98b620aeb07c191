"""Contribution rows in the form the session's driver takes (the hot path of group commit)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from bot.chat import ChatMessage
from bot.db.models import Contribution, ContributionVia
from bot.discussions.text import count_words

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
VIA_BY_TEXT = {via.value: via for via in ContributionVia}


class RowValues:
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
        if self.sqlite != is_sqlite(session):
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


def is_sqlite(session: Session) -> bool:
    bind = session.bind
    return bind is not None and bind.dialect.name == "sqlite"


#: A message to record: (message, prompt id, author's platform id, author as the platform
#: reported them (None for an answer the bot relayed), text, parent message id, mentions, via).

"""Contribution rows in the form the session's driver takes (the hot path of group commit)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy.orm import Session

from bot.chat import ChatMessage
from bot.db.models import ContributionVia
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


#: PostgreSQL takes a whole batch as one statement of 15 column arrays: one round trip, and
#: the driver (asyncpg) encodes the arrays in compiled code, where SQLAlchemy's executemany
#: would build and bind-process a parameter set per row on the event loop (measured: about
#: half of the bot's Python per recorded message). ``json`` and the enum's text are cast here.
_PG_ARRAY_TYPES = (
    "int[]",
    "int[]",
    "varchar[]",
    "varchar[]",
    "varchar[]",
    "varchar[]",
    "text[]",
    "text[]",
    "int[]",
    "timestamptz[]",
    "timestamptz[]",
    "timestamptz[]",
    "bool[]",
    "varchar[]",
    "timestamptz[]",
)
_PG_INSERT = (
    f"INSERT INTO contributions ({', '.join(_COLUMNS)}) SELECT "
    + ", ".join(f"{c}::json" if c == "mentions" else c for c in _COLUMNS)
    + " FROM unnest("
    + ", ".join(f"${i}::{t}" for i, t in enumerate(_PG_ARRAY_TYPES, start=1))
    + f") AS batch({', '.join(_COLUMNS)}) ON CONFLICT (message_id) DO NOTHING"
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
    parsing the message did. PostgreSQL takes Python values the driver encodes itself, with
    the mentions as JSON text and the enum as its value (``_PG_INSERT`` casts them).
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
        """One row; positional only, because keyword calls cost a visible share per message.

        The columns up to the word count read the same for both drivers; the times and the
        late flag take the driver's form."""
        head = (
            prompt_id,
            person_id,
            author_id,
            message.id,
            parent_id,
            message.channel_id,
            json.dumps(list(mentions)) if mentions else "[]",
            body,
            count_words(body),
        )
        if self.sqlite:
            created, edited = _sqlite_time(message.created_at), _sqlite_time(message.edited_at)
            return (*head, created, edited, None, 1 if late else 0, _VIA_TEXT[via], self.now)
        return (*head, message.created_at, message.edited_at, None, late, _VIA_TEXT[via], self.now)

    def insert(self, session: Session, rows: list[tuple[Any, ...]]) -> int:
        """Insert, skipping message ids already recorded; returns how many were new.

        SQLite takes them 500 rows per statement rather than by executemany: the driver
        releases the GIL once per statement executed, and a writer thread that releases it
        once per row waits behind the busy event loop for every row. The statement's rowcount
        counts only rows really inserted. PostgreSQL takes the whole batch as column arrays in
        one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING (``_PG_INSERT``), whose
        status line counts the rows really inserted.
        """
        if not rows:
            return 0
        if self.sqlite != is_sqlite(session):
            raise ValueError("the batch was prepared for another database")
        connection = session.connection()
        if not self.sqlite:
            columns = tuple(list(column) for column in zip(*rows, strict=True))
            result = connection.exec_driver_sql(_PG_INSERT, columns)
            return int(result.rowcount or 0)
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

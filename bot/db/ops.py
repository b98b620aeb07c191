"""Small database operations both backends need, written once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


async def insert_ignore(
    session: AsyncSession,
    model: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str],
) -> int:
    """Insert rows, silently skipping any whose ``conflict`` columns already exist.

    This is how replayed events (gateway RESUME, history backfill, retried interactions) are
    counted once: the unique constraint decides, not a racy read-then-write.
    Returns how many rows were actually inserted.
    """
    if not rows:
        return 0
    table = model.__table__
    assert isinstance(table, Table)
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    else:  # pragma: no cover - only the two supported backends exist
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    # RETURNING (batched by SQLAlchemy's insertmanyvalues) reports only the rows really
    # inserted, on both backends; asyncpg's executemany rowcount cannot.
    stmt = stmt.returning(*table.primary_key.columns)
    result = await session.execute(stmt, list(rows))
    return len(result.all())


async def earliest(session: AsyncSession, *queries: Select[Any]) -> datetime | None:
    """The earliest of the instants ``queries`` find (each selects one value, e.g. a
    ``min``), or None if none finds any: when a job must next wake, when a module began."""
    found = [
        value
        for query in queries
        if (value := (await session.execute(query)).scalar_one_or_none()) is not None
    ]
    return min(found, default=None)

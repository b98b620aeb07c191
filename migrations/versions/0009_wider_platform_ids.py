"""platform ids: 32 characters become 64

A Slack message id names its channel and its ts ("C0123ABCD/1700000000.123456", 28 characters
with today's 9-character channel ids, and Slack's ids grow), so every column holding a
platform's id (``bot.db.models.PlatformId``) is widened to 64. Nothing is rewritten.

PostgreSQL alters each column's type (widening a VARCHAR needs no table rewrite). SQLite does
not enforce a VARCHAR's length and cannot alter a column; copying the table (Alembic's batch
mode) would drop tables other tables point to, whose ON DELETE CASCADE would empty them. So
on SQLite only the declared type in the schema text changes (``PRAGMA writable_schema``, the
procedure SQLite documents for changes that leave the stored rows as they are: both types
have TEXT affinity).

Revision ID: 0009
Revises: 0008
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every column declared with ``PlatformId``, by table.
COLUMNS: dict[str, tuple[str, ...]] = {
    "channel_cursors": ("channel_id", "last_message_id"),
    "cohorts": ("guild_id",),
    "contributions": ("author_platform_id", "message_id", "parent_message_id", "thread_id"),
    "discussion_prompts": ("channel_id", "message_id", "thread_id"),
    "dm_channels": ("platform_user_id", "channel_id"),
    "event_occurrences": ("message_id",),
    "modules": ("channel_id", "role_id"),
    "notices": ("channel_id", "platform_message_id"),
    "outbox": ("channel_id", "sent_channel_id", "sent_message_id"),
    "persons": ("platform_user_id",),
    "review_assignments": ("dm_message_id",),
    "teams": ("thread_id",),
    "tutor_messages": ("platform_message_id",),
}
NOT_NULL = {
    ("channel_cursors", "channel_id"),
    ("channel_cursors", "last_message_id"),
    ("contributions", "author_platform_id"),
    ("contributions", "message_id"),
    ("contributions", "thread_id"),
    ("dm_channels", "platform_user_id"),
    ("dm_channels", "channel_id"),
}


def _sqlite_retype(old: int, new: int) -> None:
    """The declared length of each column in SQLite's schema text, rows untouched."""
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema=ON")
    for table, columns in COLUMNS.items():
        sql = conn.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
            {"t": table},
        ).scalar_one()
        for column in columns:
            pattern = re.compile(rf'(\n\s*"?{column}"?\s+)VARCHAR\({old}\)')
            sql, count = pattern.subn(rf"\g<1>VARCHAR({new})", sql)
            if count != 1:
                raise RuntimeError(f"{table}.{column} is not VARCHAR({old}) in the schema")
        conn.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
            {"sql": sql, "t": table},
        )
    conn.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema=OFF")


def _retype(old: int, new: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_retype(old, new)
        return
    for table, columns in COLUMNS.items():
        for column in columns:
            op.alter_column(
                table,
                column,
                existing_type=sa.String(length=old),
                type_=sa.String(length=new),
                existing_nullable=(table, column) not in NOT_NULL,
            )


def upgrade() -> None:
    _retype(32, 64)


def downgrade() -> None:
    # Refused by PostgreSQL if a longer id is stored: such a database needs this code.
    _retype(64, 32)

"""discussion prompts blocked by a missing channel

A prompt whose module has no channel on the server (never linked, or deleted) cannot open. It
stays ``scheduled`` with ``blocked_reason`` set, shown in ``/prompt list``; its creator is told
once, and it opens as soon as the channel is back.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "discussion_prompts", sa.Column("blocked_reason", sa.String(length=200), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("discussion_prompts") as batch:
        batch.drop_column("blocked_reason")

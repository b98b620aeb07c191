"""extensions: a 'superseded' status for grants replaced by a later one

One rule (``bot.due``) says which extension applies: the latest approved grant on the item for
that person. When a new grant is approved the earlier approved ones become ``superseded``, so
a record (a privacy export, an audit) no longer shows a replaced grant as a denial or as a
second live extension.

Data: discussions marked an earlier grant ``denied`` when a new one was given; prompts have no
request/deny flow (only ``/prompt extend``, which always approves), so every ``denied`` prompt
extension with a later ``approved`` one for the same prompt and person was replaced, not
refused. And of several ``approved`` grants on one item for one person (the calendar kept them
all) every one but the latest (decision time, then id) is superseded: the one that applied
stays approved. Downgrading maps ``superseded`` back to ``denied`` (the latest approved one
stays approved, which is what the older code read).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("requested", "approved", "denied")
NEW = (*OLD, "superseded")


def _status(values: tuple[str, ...]) -> sa.Enum:
    # The same definition as the model's ``_enum``: a VARCHAR(32) with a named CHECK.
    return sa.Enum(
        *values, name="extension_status", native_enum=False, create_constraint=True, length=32
    )


def _retype(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    # Batch mode: SQLite cannot alter a CHECK constraint, so the table is copied with the new
    # one; ``existing_type`` names the old CHECK so it is dropped, not copied. PostgreSQL gets
    # a plain DROP/ADD CONSTRAINT.
    with op.batch_alter_table("extensions") as batch:
        batch.alter_column(
            "status", existing_type=_status(old), type_=_status(new), existing_nullable=False
        )


_SAME_ITEM = (
    "(later.prompt_id = extensions.prompt_id"
    " OR later.exercise_id = extensions.exercise_id"
    " OR later.event_id = extensions.event_id)"
)
_DECIDED = "COALESCE({t}.decided_at, {t}.requested_at)"
_LATER = (
    f"({_DECIDED.format(t='later')} > {_DECIDED.format(t='extensions')}"
    f" OR ({_DECIDED.format(t='later')} = {_DECIDED.format(t='extensions')}"
    " AND later.id > extensions.id))"
)


def upgrade() -> None:
    _retype(OLD, NEW)
    # Prompt grants "denied" only because a later grant replaced them.
    op.execute(
        "UPDATE extensions SET status = 'superseded'"
        " WHERE status = 'denied' AND prompt_id IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM extensions AS later"
        " WHERE later.prompt_id = extensions.prompt_id"
        " AND later.person_id = extensions.person_id"
        " AND later.status = 'approved' AND later.id > extensions.id)"
    )
    # Of several approved grants on one item for one person, only the latest applies.
    op.execute(
        "UPDATE extensions SET status = 'superseded'"
        " WHERE status = 'approved' AND EXISTS ("
        "SELECT 1 FROM extensions AS later"
        " WHERE later.person_id = extensions.person_id"
        f" AND later.status = 'approved' AND {_SAME_ITEM} AND {_LATER})"
    )


def downgrade() -> None:
    op.execute("UPDATE extensions SET status = 'denied' WHERE status = 'superseded'")
    _retype(NEW, OLD)

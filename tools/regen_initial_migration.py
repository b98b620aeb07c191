"""Regenerate migrations/versions/0001_initial_domain_schema.py from bot/db/models.py.

Only for the period before the first release, while the schema is still being shaped and no
deployed database exists: afterwards every change gets its own revision
(`alembic revision --autogenerate -m "..."`).

Run: .venv/bin/python tools/regen_initial_migration.py
"""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from bot.db.models import Base

TARGET = Path(__file__).resolve().parents[1] / "migrations/versions/0001_initial_domain_schema.py"

HEADER = '''"""initial domain schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
'''


def main() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        script = produce_migrations(ctx, Base.metadata)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    up = render_python_code(script.upgrade_ops, migration_context=ctx)
    down = render_python_code(script.downgrade_ops, migration_context=ctx)
    TARGET.write_text(HEADER + up + "\n\ndef downgrade() -> None:\n" + down + "\n")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()

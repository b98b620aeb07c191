"""Schema migrations in code: upgrade, downgrade, and the start-up version check.

Alembic runs synchronously on a connection we lend it from the async engine, so the same path
works inside an event loop (the bot, the demo, tests) and from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import migrations
from bot.db.engine import Database

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def upgrade(db: Database, revision: str = "head") -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(db: Database, revision: str = "base") -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def ok(self) -> bool:
        return self.current == self.head

    def problem(self) -> str | None:
        """One clear line for the operator, or None when the schema is at head."""
        if self.ok:
            return None
        if self.current is None:
            return "The database has no cohortbot schema yet: run `cohortbot migrate` first."
        known = {
            rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()
        }
        if self.current not in known:
            return (
                f"The database is at revision {self.current}, newer than this cohortbot knows "
                f"({self.head}): upgrade cohortbot before running it."
            )
        return (
            f"The database is at revision {self.current} but this cohortbot needs {self.head}: "
            "run `cohortbot migrate`."
        )


async def schema_state(db: Database) -> SchemaState:
    return SchemaState(current=await current_revision(db), head=head_revision())

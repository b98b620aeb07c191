"""Migrations reach a schema identical to the models, and come back down cleanly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.db.engine import Database
from bot.db.migrate import downgrade, head_revision, schema_state, upgrade
from bot.db.models import Base


async def test_upgrade_head_matches_models_then_downgrade_base(empty_db: Database) -> None:
    state = await schema_state(empty_db)
    assert state.current is None
    assert "cohortbot migrate" in (state.problem() or "")

    await upgrade(empty_db)
    assert (await schema_state(empty_db)).ok

    def diff(conn: object) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(ctx, Base.metadata))

    async with empty_db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []

    await downgrade(empty_db, "base")
    async with empty_db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
    assert (await schema_state(empty_db)).current is None


async def test_too_new_database_is_named(db: Database) -> None:
    async with db.session() as s:
        await s.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    problem = (await schema_state(db)).problem()
    assert problem is not None and "newer than this cohortbot knows" in problem
    assert head_revision() in problem


async def test_ledger_is_append_only_in_the_database(db: Database) -> None:
    from bot.db.models import (
        Cohort,
        Designation,
        LedgerEntry,
        LedgerSource,
        Module,
        Person,
    )

    now = datetime.now(UTC)
    async with db.session() as s:
        cohort = Cohort(code="C", name="Cohort")
        s.add(cohort)
        await s.flush()
        module = Module(
            cohort_id=cohort.id,
            code="M1",
            title="M",
            term="Autumn",
            ects=5,
            designation=Designation.CORE,
        )
        person = Person(display_name="Ada")
        s.add_all([module, person])
        await s.flush()
        s.add(
            LedgerEntry(
                idempotency_key="k1",
                module_id=module.id,
                person_id=person.id,
                source=LedgerSource.DISCUSSION_POST,
                item_type="prompt",
                item_id=1,
                source_ref="message:1",
                points=1,
                occurred_at=now,
            )
        )

    with pytest.raises(DBAPIError, match="append-only"):
        async with db.session() as s:
            await s.execute(text("UPDATE ledger_entries SET points = 99"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.session() as s:
            await s.execute(text("DELETE FROM ledger_entries"))
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(
                LedgerEntry(
                    idempotency_key="k1",
                    module_id=module.id,
                    person_id=person.id,
                    source=LedgerSource.DISCUSSION_POST,
                    item_type="prompt",
                    item_id=1,
                    source_ref="message:1",
                    points=1,
                    occurred_at=now,
                )
            )
    async with db.session() as s:
        points = (await s.execute(text("SELECT points FROM ledger_entries"))).scalars().all()
    assert [float(p) for p in points] == [1.0]


async def test_naive_datetimes_are_refused(db: Database) -> None:
    from bot.db.models import Person

    with pytest.raises(Exception, match="naive datetime"):
        async with db.session() as s:
            s.add(Person(display_name="Bo", erased_at=datetime(2026, 1, 1)))  # noqa: DTZ001
            await s.flush()


async def test_foreign_keys_are_enforced(db: Database) -> None:
    from bot.db.models import Enrolment, Role

    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(Enrolment(module_id=12345, person_id=67890, role=Role.STUDENT))


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite pragmas only")
    async with db.engine.connect() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
        timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
    assert (mode, fks, timeout) == ("wal", 1, 10_000)


async def test_platform_ids_widen_to_64_characters_keeping_every_row(empty_db: Database) -> None:
    """0009: a Slack message id ("<channel>/<ts>", longer with longer channel ids) fits, and
    the rows written under 0008 (a cohort its members' rows point to) are all still there."""
    await upgrade(empty_db, "0008")
    async with empty_db.session() as s:
        await s.execute(
            text(
                "INSERT INTO cohorts (id, code, name, platform, guild_id, timezone, created_at)"
                " VALUES (1, 'C', 'Cohort', 'slack', 'T0123', 'UTC', '2030-01-01 00:00:00')"
            )
        )
        await s.execute(
            text(
                "INSERT INTO modules (id, cohort_id, code, title, year, term, ects, designation,"
                " pass_fail, in_weighted_average, channel_id)"
                " VALUES (1, 1, 'M1', 'M', 1, 'Autumn', 5, 'core', false, true, 'C0123ABCD')"
            )
        )
    long_id = "C0123456789ABCDEFGHIJ/1700000000.123456"  # a channel id of 21 characters
    if empty_db.dialect == "postgresql":  # SQLite never enforced the length
        with pytest.raises(DBAPIError):
            async with empty_db.session() as s:
                await s.execute(text("UPDATE modules SET role_id = :r"), {"r": long_id})
    await upgrade(empty_db)
    async with empty_db.session() as s:
        await s.execute(text("UPDATE modules SET role_id = :r"), {"r": long_id})
    async with empty_db.session() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT c.guild_id, m.channel_id, m.role_id FROM modules m"
                    " JOIN cohorts c ON c.id = m.cohort_id"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [("T0123", "C0123ABCD", long_id)]
    if empty_db.dialect == "sqlite":
        async with empty_db.engine.connect() as conn:
            check = (await conn.execute(text("PRAGMA integrity_check"))).scalar_one()
        assert check == "ok"
    async with empty_db.session() as s:
        await s.execute(text("UPDATE modules SET role_id = NULL"))
    await downgrade(empty_db, "0008")
    await upgrade(empty_db)
    assert (await schema_state(empty_db)).ok

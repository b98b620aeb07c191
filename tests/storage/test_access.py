"""Callers are resolved from the roster; refusals name what is wrong."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.access.identity import ChannelInfo, ChatUser, bind_module_channels, resolve_cohort
from bot.access.permissions import load_caller, module_by_code, require_staff
from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    Designation,
    Enrolment,
    LedgerEntry,
    LedgerSource,
    Module,
    Person,
    Role,
)
from bot.db.ops import insert_ignore
from bot.db.types import utcnow
from bot.errors import NotFound, PermissionDenied


async def _cohort(db: Database) -> tuple[int, int, int]:
    async with db.session() as s:
        cohort = Cohort(code="C1", name="Cohort")
        s.add(cohort)
        await s.flush()
        m1 = Module(
            cohort_id=cohort.id,
            code="MATH70095",
            title="Applicable Mathematics",
            term="Autumn",
            ects=5,
            designation=Designation.CORE,
        )
        m2 = Module(
            cohort_id=cohort.id,
            code="MATH70096",
            title="EDA",
            term="Spring",
            ects=5,
            designation=Designation.COMPULSORY,
            channel_name="eda-and-vis",
        )
        tutor = Person(display_name="Tutor T", platform_username="tutor.t")
        student = Person(display_name="Stu S", platform_user_id="111")
        s.add_all([m1, m2, tutor, student])
        await s.flush()
        s.add_all(
            [
                Enrolment(module_id=m1.id, person_id=tutor.id, role=Role.TUTOR),
                Enrolment(module_id=m1.id, person_id=student.id, role=Role.STUDENT),
            ]
        )
        return cohort.id, m1.id, m2.id


async def test_username_on_roster_is_linked_to_the_platform_id(db: Database) -> None:
    cohort_id, m1, _ = await _cohort(db)
    async with db.session() as s:
        caller = await load_caller(s, cohort_id, ChatUser("999", "Tutor.T", "T"))
        assert caller.is_staff_for(m1)
    async with db.session() as s:
        linked = (
            await s.execute(select(Person).where(Person.platform_user_id == "999"))
        ).scalar_one()
        assert linked.display_name == "Tutor T"


async def test_unknown_user_and_student_are_refused(db: Database) -> None:
    cohort_id, _, _ = await _cohort(db)
    async with db.session() as s:
        with pytest.raises(PermissionDenied, match="not on this cohort's roster"):
            await load_caller(s, cohort_id, ChatUser("5", "stranger", "S"))
        student = await load_caller(s, cohort_id, ChatUser("111", "stu", "Stu"))
        module = await module_by_code(s, cohort_id, "math70095")
        with pytest.raises(PermissionDenied, match="Only tutors of MATH70095"):
            require_staff(student, module)


async def test_unknown_module_lists_valid_codes(db: Database) -> None:
    cohort_id, _, _ = await _cohort(db)
    async with db.session() as s:
        with pytest.raises(NotFound, match="valid codes: MATH70095, MATH70096"):
            await module_by_code(s, cohort_id, "MATH99999")


async def test_guild_and_channels_bind_by_name(db: Database) -> None:
    await _cohort(db)
    async with db.session() as s:
        cohort = await resolve_cohort(s, "42")
        assert cohort is not None and cohort.guild_id == "42"
        unbound = await bind_module_channels(
            s,
            cohort,
            [ChannelInfo("10", "math70095"), ChannelInfo("11", "eda-and-vis")],
            [ChannelInfo("20", "MATH70095")],
        )
        assert unbound == []
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Module.code, Module.channel_id, Module.role_id).order_by(Module.code)
            )
        ).all()
        assert [tuple(r) for r in rows] == [("MATH70095", "10", "20"), ("MATH70096", "11", None)]
        assert await resolve_cohort(s, "43") is None


async def test_insert_ignore_counts_each_key_once(db: Database) -> None:
    _, m1, _ = await _cohort(db)
    async with db.session() as s:
        person_id = (
            await s.execute(select(Person.id).where(Person.platform_user_id == "111"))
        ).scalar_one()

    def row(key: str) -> dict[str, object]:
        return dict(
            idempotency_key=key,
            module_id=m1,
            person_id=person_id,
            source=LedgerSource.DISCUSSION_POST,
            item_type="prompt",
            item_id=1,
            source_ref=key,
            points=1,
            occurred_at=utcnow(),
            recorded_at=utcnow(),
        )

    async with db.session() as s:
        assert (
            await insert_ignore(s, LedgerEntry, [row("a"), row("b")], conflict=["idempotency_key"])
            == 2
        )
    async with db.session() as s:
        assert (
            await insert_ignore(s, LedgerEntry, [row("b"), row("c")], conflict=["idempotency_key"])
            == 1
        )
        total = (await s.execute(select(func.count()).select_from(LedgerEntry))).scalar_one()
        assert total == 3

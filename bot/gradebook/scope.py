"""Which module or student a gradebook command is about (shared by the command modules)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.access.permissions import Caller, module_by_code, require_staff
from bot.db.models import Cohort, Enrolment, Module, Person, Role
from bot.errors import NotFound


async def staff_module(session: AsyncSession, caller: Caller, code: str) -> Module:
    module = await module_by_code(session, caller.cohort_id, code)
    require_staff(caller, module)
    return module


async def cohort_zone(session: AsyncSession, cohort_id: int) -> str:
    zone = (await session.execute(select(Cohort.timezone).where(Cohort.id == cohort_id))).scalar()
    return zone or "UTC"


async def student_in_module(session: AsyncSession, module: Module, user: ChatUser) -> Person:
    """The roster person behind a chat user, who must be a student of ``module``."""
    person = await resolve_person(session, user)
    if person is not None:
        enrolled = (
            await session.execute(
                select(Enrolment.id).where(
                    Enrolment.module_id == module.id,
                    Enrolment.person_id == person.id,
                    Enrolment.role == Role.STUDENT,
                )
            )
        ).scalar_one_or_none()
        if enrolled is not None:
            return person
    raise NotFound(f"{user.display_name} is not a student of {module.code}.")

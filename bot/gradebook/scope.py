"""Which module a gradebook command is about (shared by the command modules); the student
it names is ``bot.access.permissions.student_of``, as in every feature."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, module_by_code, require_staff
from bot.db.models import Cohort, Module


async def staff_module(session: AsyncSession, caller: Caller, code: str) -> Module:
    module = await module_by_code(session, caller.cohort_id, code)
    require_staff(caller, module)
    return module


async def cohort_zone(session: AsyncSession, cohort_id: int) -> str:
    zone = (await session.execute(select(Cohort.timezone).where(Cohort.id == cohort_id))).scalar()
    return zone or "UTC"

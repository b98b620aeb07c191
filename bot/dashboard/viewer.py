"""Who is signed in and what they may see: the checks every dashboard read starts with.

Tutors see their modules, programme admins every module of their cohort, students only their
own page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Enrolment,
    EnrolmentStatus,
    Module,
    Person,
    Role,
)
from bot.errors import NotFound, PermissionDenied

NOT_YOURS = "This page is for the module's tutors and the programme admins."
STUDENT_ONLY_OWN = "Students can open only their own page."


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, and their role in each module of their cohort."""

    person_id: int
    name: str
    cohort_id: int
    roles: dict[int, Role]
    cohort_modules: frozenset[int] = frozenset()

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles.values()

    @property
    def is_student(self) -> bool:
        return Role.STUDENT in self.roles.values()

    @property
    def is_staff(self) -> bool:
        return self.is_admin or Role.TUTOR in self.roles.values()

    def staff_modules(self) -> set[int]:
        if self.is_admin:
            return set(self.cohort_modules)
        return {m for m, r in self.roles.items() if r in (Role.TUTOR, Role.ADMIN)}

    def may_see_module(self, module_id: int) -> bool:
        return module_id in self.staff_modules()


async def load_viewer(session: AsyncSession, person_id: int, cohort_id: int) -> Viewer:
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise PermissionDenied("You are no longer on this cohort's roster.")
    modules = (
        (await session.execute(select(Module.id).where(Module.cohort_id == cohort_id)))
        .scalars()
        .all()
    )
    rows = await session.execute(
        select(Enrolment.module_id, Enrolment.role).where(
            Enrolment.person_id == person_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Enrolment.module_id.in_(modules),
        )
    )
    roles = {mid: role for mid, role in rows.all()}
    if not roles:
        raise PermissionDenied("You are no longer on this cohort's roster.")
    return Viewer(person.id, person.display_name, cohort_id, roles, frozenset(modules))


async def _staff_module(session: AsyncSession, viewer: Viewer, module_id: int) -> Module:
    module = await session.get(Module, module_id)
    if module is None or module.cohort_id != viewer.cohort_id:
        raise NotFound("There is no such module in your cohort.")
    if not viewer.may_see_module(module.id):
        raise PermissionDenied(NOT_YOURS)
    return module

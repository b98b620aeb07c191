"""Role checks against the roster, for every command.

Discord's command visibility is a convenience, not a control: a student who sees a tutor command
(or calls it through the API) is refused here, before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.db.models import Cohort, Enrolment, EnrolmentStatus, Module, Person, Role
from bot.errors import NotFound, PermissionDenied, shown


class _OfModule(Protocol):
    @property
    def module_id(self) -> int: ...


_Item = TypeVar("_Item", bound=_OfModule)

NOT_ON_ROSTER = (
    "You are not on this cohort's roster, so cohortbot cannot act for you; "
    "ask the programme office to add you."
)


@dataclass(frozen=True)
class Caller:
    """A resolved caller: the person and their role in each module of the cohort."""

    person: Person
    cohort_id: int
    roles: dict[int, Role] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles.values()

    def role_in(self, module_id: int) -> Role | None:
        return self.roles.get(module_id)

    def is_staff_for(self, module_id: int) -> bool:
        """Tutors of the module, and programme admins for every module."""
        return self.is_admin or self.roles.get(module_id) in (Role.TUTOR, Role.ADMIN)

    def is_student_in(self, module_id: int) -> bool:
        return self.roles.get(module_id) == Role.STUDENT

    def staff_module_ids(self) -> set[int]:
        return {m for m, r in self.roles.items() if r in (Role.TUTOR, Role.ADMIN)}


async def load_caller(session: AsyncSession, cohort_id: int, user: ChatUser) -> Caller:
    """Resolve the caller or refuse: everyone who uses the bot must be on the roster."""
    person = await resolve_person(session, user)
    if person is None or person.erased_at is not None:
        raise PermissionDenied(NOT_ON_ROSTER)
    rows = await session.execute(
        select(Enrolment.module_id, Enrolment.role)
        .join(Module, Module.id == Enrolment.module_id)
        .where(
            Enrolment.person_id == person.id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Module.cohort_id == cohort_id,
        )
    )
    roles = {module_id: role for module_id, role in rows.all()}
    if not roles:
        raise PermissionDenied(NOT_ON_ROSTER)
    return Caller(person=person, cohort_id=cohort_id, roles=roles)


async def module_by_code(session: AsyncSession, cohort_id: int, code: str) -> Module:
    """Find a module by code, or say which codes exist."""
    wanted = code.strip().upper()
    modules = (
        await session.scalars(
            select(Module).where(Module.cohort_id == cohort_id).order_by(Module.code)
        )
    ).all()
    for module in modules:
        if module.code.upper() == wanted:
            return module
    valid = ", ".join(m.code for m in modules) or "none loaded yet"
    raise NotFound(f"There is no module {shown(code)} in this cohort; valid codes: {valid}.")


def roster_people(module_id: int, role: Role) -> Select[tuple[Person]]:
    """The people on a module's roster in ``role`` now: an active enrolment, not erased. Lists
    of "the module's students" or "its tutors" start here, so they agree on who counts."""
    return (
        select(Person)
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(
            Enrolment.module_id == module_id,
            Enrolment.role == role,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Person.erased_at.is_(None),
        )
    )


async def in_cohort(
    session: AsyncSession, kind: type[_Item], item_id: int, cohort: Cohort, missing: str
) -> tuple[_Item, Module]:
    """A module's item (prompt, exercise, ...) by its number, with its module, when it belongs
    to this cohort; otherwise ``missing``: another cohort's items are as good as absent."""
    item = await session.get(kind, item_id)
    module = await session.get(Module, item.module_id) if item is not None else None
    if item is None or module is None or module.cohort_id != cohort.id:
        raise NotFound(missing)
    return item, module


def require_staff(caller: Caller, module: Module) -> None:
    if not caller.is_staff_for(module.id):
        raise PermissionDenied(f"Only tutors of {module.code} and programme admins can do that.")


def require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise PermissionDenied("Only programme admins can do that.")


def require_student(caller: Caller, module: Module) -> None:
    if not caller.is_student_in(module.id):
        raise PermissionDenied(f"You are not enrolled as a student in {module.code}.")


async def student_of(session: AsyncSession, module: Module, user: ChatUser) -> Person:
    """The roster person behind ``user`` when they are a student of ``module`` (a tutor names a
    student in a command); anyone else is refused in one sentence."""
    person = await resolve_person(session, user)
    role = None
    if person is not None:
        role = (
            await session.execute(
                select(Enrolment.role).where(
                    Enrolment.module_id == module.id, Enrolment.person_id == person.id
                )
            )
        ).scalar_one_or_none()
    if person is None or role != Role.STUDENT:
        raise NotFound(f"{user.display_name} is not a student of {module.code}.")
    return person

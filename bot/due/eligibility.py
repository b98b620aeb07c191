"""Who may be given an extension, and the reason it records: the same for every feature.

``/deadline extend`` and ``/deadline decide`` (calendar), ``/exercise extend`` (peer) and
``/prompt extend`` (discussions) all ask here before ``bot.due.grant``, so a student gets the
same answer whichever item is extended:

- **Eligible**: a person on the roster with an *active* student enrolment in the item's
  module. A withdrawn student (the roster sync marks an enrolment ``withdrawn`` when they
  leave the module) gets no new extension; what they were granted before still applies.
- **Reason**: a reference such as a mitigating-circumstances case number, required. Runs of
  whitespace (line breaks included) become one space; text that is empty, longer than
  ``REASON_MAX`` characters, invisible, or holds a control character is refused with
  ``REASON_REFUSAL`` (one sentence everywhere), never cut short silently.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.db.models import Enrolment, EnrolmentStatus, Module, Person, Role
from bot.errors import UserError

#: The ``extensions.reason_ref`` column holds 200 characters.
REASON_MAX = 200
REASON_REFUSAL = (
    f"Give a reason reference of 1 to {REASON_MAX} characters, e.g. the mitigating "
    "circumstances case number MC-2026-014."
)


def clean_reason(text: str | None) -> str:
    """The reason as stored: whitespace folded to single spaces; else ``REASON_REFUSAL``.

    Idempotent: a cleaned reason cleans to itself, so ``bot.due.grant`` applies it again.
    """
    reason = " ".join((text or "").split())
    categories = [unicodedata.category(ch) for ch in reason]
    if (
        not reason
        or len(reason) > REASON_MAX
        or any(c in ("Cc", "Cs") for c in categories)
        or all(c[0] in "CZ" for c in categories)
    ):
        raise UserError(REASON_REFUSAL)
    return reason


def not_eligible(name: str, module_code: str) -> str:
    """The one refusal for a person who may not have an extension in this module."""
    return (
        f"{name} is not enrolled as a student in {module_code}, so they cannot have an "
        "extension for it."
    )


async def _active_student(session: AsyncSession, module: Module, person: Person) -> bool:
    return (
        await session.execute(
            select(Enrolment.id).where(
                Enrolment.module_id == module.id,
                Enrolment.person_id == person.id,
                Enrolment.role == Role.STUDENT,
                Enrolment.status == EnrolmentStatus.ACTIVE,
            )
        )
    ).first() is not None


async def require_eligible(session: AsyncSession, module: Module, person: Person) -> None:
    """Refuse unless ``person`` is an active student of ``module`` (withdrawn: refused)."""
    if not await _active_student(session, module, person):
        raise UserError(not_eligible(person.display_name, module.code))


async def extension_student(session: AsyncSession, module: Module, user: ChatUser) -> Person:
    """The roster person a tutor named for an extension, when they are eligible (the refusal
    names them as the tutor's chat shows them)."""
    person = await resolve_person(session, user)
    if person is None or not await _active_student(session, module, person):
        raise UserError(not_eligible(user.display_name, module.code))
    return person

"""Importing other component marks (coursework, exam...) from a CSV, all or nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller
from bot.db.models import ComponentMark, Enrolment, Person, Role
from bot.errors import UserError
from bot.gradebook import audit
from bot.gradebook.book import format_points
from bot.gradebook.components import ComponentImportError, parse_component_csv
from bot.gradebook.scope import staff_module

# --------------------------------------------------------------------------- component import


@dataclass(frozen=True)
class ImportResult:
    module_code: str
    marks: int
    students: int
    components: tuple[tuple[str, Decimal], ...]
    changed: int
    added: int

    @property
    def text(self) -> str:
        listed = ", ".join(f"{name} (weight {format_points(w)})" for name, w in self.components)
        return (
            f"Imported {self.marks} component marks for {self.students} students of "
            f"{self.module_code}: {listed}; {self.added} new, {self.changed} changed. They feed "
            "the module mark and classification previews (provisional)."
        )


MAX_IMPORT_BYTES = 2_000_000


async def import_components(
    session: AsyncSession,
    caller: Caller,
    module_code: str,
    data: bytes | Callable[[], Awaitable[bytes | None]] | None,
    now: datetime,
) -> ImportResult:
    """Upsert imported component marks, all or nothing (``data`` None: the file was too big).

    ``data`` may be a download to start only once the caller is known to be the module's staff:
    a student's attempt is refused without the bot fetching their file.
    """
    module = await staff_module(session, caller, module_code)
    if callable(data):
        data = await data()
    if data is None or len(data) > MAX_IMPORT_BYTES:
        raise UserError("The file is larger than 2 MB; split it into smaller files.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError("The file is not UTF-8 text; save it as CSV UTF-8.") from None
    rows = parse_component_csv(text)
    students = await session.execute(
        select(Person.id, Person.student_number, Person.platform_username)
        .join(Enrolment, Enrolment.person_id == Person.id)
        .where(Enrolment.module_id == module.id, Enrolment.role == Role.STUDENT)
    )
    lookup: dict[str, int] = {}
    for pid, number, username in students.all():
        if number:
            lookup[number.lower()] = pid
        if username:
            lookup[username.lower()] = pid
    problems = [
        f"line {r.line}: {r.student} is not a student of {module.code}"
        for r in rows
        if r.student.lower() not in lookup
    ]
    if problems:
        raise ComponentImportError(problems)
    existing = {
        (m.person_id, m.component.lower()): m
        for m in (
            await session.scalars(select(ComponentMark).where(ComponentMark.module_id == module.id))
        ).all()
    }
    changed = added = 0
    people: set[int] = set()
    for r in rows:
        pid = lookup[r.student.lower()]
        people.add(pid)
        current = existing.get((pid, r.component.lower()))
        if current is not None and current.mark == r.mark and current.weight == r.weight:
            continue
        before = None if current is None else {"mark": current.mark, "weight": current.weight}
        if current is None:
            current = ComponentMark(
                module_id=module.id,
                person_id=pid,
                component=r.component,
                weight=r.weight,
                mark=r.mark,
                imported_at=now,
            )
            session.add(current)
            added += 1
        else:
            current.mark = r.mark
            current.weight = r.weight
            current.imported_at = now
            changed += 1
        await audit.record(
            session,
            actor=caller.person,
            action="component_mark_imported",
            entity_type="component_mark",
            entity_id=None,
            subject_person_id=pid,
            module_id=module.id,
            before=before,
            after={"component": r.component, "mark": r.mark, "weight": r.weight},
            reason=f"CSV import, line {r.line}",
            at=now,
        )
    await session.flush()
    components = sorted({(r.component, r.weight) for r in rows})
    return ImportResult(module.code, len(rows), len(people), tuple(components), changed, added)

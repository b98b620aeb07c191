"""Gradebook exports for the programme office: one module, or the whole programme.

The file formats are ``bot.gradebook.export``; this module gathers the data and checks access.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, require_admin
from bot.db.models import Cohort, Module
from bot.errors import UserError, shown
from bot.gradebook.classification import ClassificationError, ModuleResult, classify
from bot.gradebook.export import (
    FORMATS,
    ExportFile,
    ProgrammeRow,
    items_table,
    module_table,
    programme_table,
    render,
)
from bot.gradebook.loading import load_module_book
from bot.gradebook.scope import cohort_zone, staff_module

TERM_ORDER = {"autumn": 0, "spring": 1, "summer": 2}
# --------------------------------------------------------------------------- exports


def check_format(fmt: str) -> str:
    value = fmt.strip().lower()
    if value not in FORMATS:
        raise UserError(f"The format must be csv or xlsx, not {shown(fmt)}.")
    return value


async def build_module_export(
    session: AsyncSession, module: Module, fmt: str, now: datetime
) -> ExportFile:
    """A module's gradebook file (no permission check: the CLI runs as the operator)."""
    zone = await cohort_zone(session, module.cohort_id)
    book = await load_module_book(session, module, zone, now)
    table = module_table(book)
    name = f"gradebook-{module.code}"
    filename, data = render(
        check_format(fmt), name, [("Gradebook", table), ("Items", items_table(book))], now
    )
    summary = (
        f"{module.code}: {len(book.students)} students × {len(book.items)} items "
        f"({len(book.columns)} item columns), participation marks {book.status_label}"
    )
    return ExportFile(filename, data, len(book.students), len(table[0]), summary)


async def export_module(
    session: AsyncSession, caller: Caller, module_code: str, fmt: str, now: datetime
) -> ExportFile:
    module = await staff_module(session, caller, module_code)
    fmt = check_format(fmt)
    return await build_module_export(session, module, fmt, now)


def _module_order(module: Module) -> tuple[int, int, str]:
    return (module.year, TERM_ORDER.get(module.term.strip().lower(), 9), module.code)


async def build_programme_export(
    session: AsyncSession, cohort: Cohort, fmt: str, now: datetime
) -> ExportFile:
    """Every student of the cohort: participation and module mark per module, classification."""
    fmt = check_format(fmt)
    modules = sorted(
        (await session.scalars(select(Module).where(Module.cohort_id == cohort.id))).all(),
        key=_module_order,
    )
    people: dict[int, tuple[str | None, str, str | None]] = {}
    participation: dict[int, dict[str, Decimal | None]] = defaultdict(dict)
    module_marks: dict[int, dict[str, Decimal | None]] = defaultdict(dict)
    for module in modules:
        book = await load_module_book(session, module, cohort.timezone, now)
        for s in book.students:
            people[s.person_id] = (s.student_number, s.name, s.username)
            participation[s.person_id][module.code] = s.book.mark.mark
            module_marks[s.person_id][module.code] = (
                s.module_mark.mark if s.module_mark is not None else None
            )
    rows: list[ProgrammeRow] = []
    for pid, (number, name, username) in sorted(
        people.items(), key=lambda kv: (kv[1][0] is None, kv[1][0] or "", kv[1][1], kv[0])
    ):
        results = [
            ModuleResult(
                code=m.code,
                ects=Decimal(m.ects),
                designation=m.designation,
                mark=module_marks[pid].get(m.code),
                pass_fail=m.pass_fail,
                in_weighted_average=m.in_weighted_average,
                title=m.title,
            )
            for m in modules
        ]
        try:
            classification = classify(results) if results else None
        except ClassificationError:
            classification = None
        rows.append(
            ProgrammeRow(
                number, name, username, participation[pid], module_marks[pid], classification
            )
        )
    codes = [m.code for m in modules]
    table = programme_table(codes, rows)
    filename, data = render(fmt, f"gradebook-{cohort.code}", [("Programme", table)], now)
    summary = (
        f"{cohort.code}: {len(rows)} students × {len(modules)} modules, with a provisional "
        "classification preview"
    )
    return ExportFile(filename, data, len(rows), len(table[0]), summary)


async def export_programme(
    session: AsyncSession, caller: Caller, fmt: str, now: datetime
) -> ExportFile:
    require_admin(caller)
    fmt = check_format(fmt)
    cohort = (
        await session.execute(select(Cohort).where(Cohort.id == caller.cohort_id))
    ).scalar_one()
    return await build_programme_export(session, cohort, fmt, now)

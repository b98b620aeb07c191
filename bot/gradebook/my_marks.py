"""The student's own view of their marks (``/marks``): one student, or a crowd's each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.permissions import Caller, module_by_code, require_student
from bot.db.models import LedgerSource, Module
from bot.errors import NotFound, PermissionDenied, shown
from bot.gradebook import snapshot
from bot.gradebook.book import (
    CellKey,
    Layout,
    StudentRecord,
    build_student_book,
    format_milli,
    ledger_key,
    unlisted_items,
)
from bot.gradebook.loading import raw_rows
from bot.gradebook.view import (
    SUMMARY_TITLE,
    ModuleSummary,
    StudentView,
    render_summaries,
)

# --------------------------------------------------------------------------- student view


@dataclass(frozen=True)
class SummaryView:
    summaries: tuple[ModuleSummary, ...]
    title: str = SUMMARY_TITLE

    @property
    def body(self) -> str:
        return render_summaries(self.summaries)

    @property
    def text(self) -> str:
        return f"**{self.title}**\n{self.body}"


async def student_marks(
    session: AsyncSession, caller: Caller, module_code: str | None, now: datetime
) -> StudentView | SummaryView:
    """The caller's own participation: one module in detail, or a line per module.

    The hot path of the end of term: module-wide data comes from a short-lived snapshot
    (``bot.gradebook.snapshot``); the student's own ledger rows are read fresh each time.
    """
    modules, zone = await snapshot.cohort_modules(session, caller.cohort_id)
    person_id = caller.person.id
    if module_code is None:
        summaries = []
        for info in _my_modules(caller, modules):
            snap = await snapshot.module_snapshot(session, info, zone, now)
            rows = (await credits_of(session, info.id, [person_id]))[person_id]
            summaries.append(_summary(_student_view(snap, caller, rows, now)))
        return SummaryView(tuple(summaries))
    found = modules.get(module_code.strip().upper())
    if found is None:
        await module_by_code(session, caller.cohort_id, module_code)  # names the valid codes
        raise NotFound(f"There is no module {shown(module_code)} in this cohort.")
    require_student(caller, Module(id=found.id, code=found.code))
    snap = await snapshot.module_snapshot(session, found, zone, now)
    rows = (await credits_of(session, found.id, [person_id]))[person_id]
    return _student_view(snap, caller, rows, now)


#: A student's credits as ``credits_sql`` returns them: (person_id, source, item_type, item_id,
#: thousandths, note, first row id).
CreditRow = Sequence[Any]
#: ``read(module_id, person_id)``: that student's ``CreditRow``s in the module.
RowReader = Callable[[int, int], Sequence[CreditRow]]

#: Persons per credits query (well inside every driver's limit on parameters: twice this).
PERSONS_PER_QUERY = 500
_ADJUSTMENT_SOURCE = LedgerSource.ADJUSTMENT.value


def credits_sql(persons: int) -> str:
    """Students' ledger rows as ``/marks`` reads them, summed by the database.

    One row per student and ledger (source, item), its points summed in exact thousandths
    (each row rounded to thousandths first: the column keeps three decimals, so this only
    undoes SQLite's binary floats); adjustments one row each, since each carries its own reason.
    Ordered by each one's first ledger row, so the view lists them in the order they were
    credited. Parameters: module id, the ``persons`` ids, then both again.
    """
    marks = ", ".join("?" for _ in range(persons))
    where = f"WHERE module_id = ? AND person_id IN ({marks})"
    return (
        "SELECT person_id, source, item_type, item_id, "
        "CAST(SUM(ROUND(points * 1000)) AS BIGINT) AS milli, NULL AS note, MIN(id) AS first "
        f"FROM ledger_entries {where} AND source <> '{_ADJUSTMENT_SOURCE}' "
        "GROUP BY person_id, source, item_type, item_id "
        "UNION ALL "
        "SELECT person_id, source, item_type, item_id, CAST(ROUND(points * 1000) AS BIGINT), "
        f"note, id FROM ledger_entries {where} AND source = '{_ADJUSTMENT_SOURCE}' "
        "ORDER BY first"
    )


async def credits_of(
    session: AsyncSession, module_id: int, person_ids: Iterable[int]
) -> dict[int, list[CreditRow]]:
    """Each person's ``credits_sql`` rows in the module (an empty list for one with none)."""
    ordered = sorted(set(person_ids))
    found: dict[int, list[CreditRow]] = {person_id: [] for person_id in ordered}
    for start in range(0, len(ordered), PERSONS_PER_QUERY):
        chunk = ordered[start : start + PERSONS_PER_QUERY]
        params = (module_id, *chunk, module_id, *chunk)
        for row in await raw_rows(session, credits_sql(len(chunk)), params):
            found[row[0]].append(row)
    return found


def marks_from(
    caller: Caller,
    module_code: str | None,
    now: datetime,
    modules: Mapping[str, snapshot.ModuleInfo],
    snapshot_of: Callable[[int], snapshot.ModuleSnapshot | None],
    read: RowReader,
) -> StudentView | SummaryView | None:
    """What ``student_marks`` answers, from modules and snapshots a crowd took for it
    (``bot.gradebook.crowd``) and the student's rows (``read``, no I/O); None where
    ``student_marks`` would refuse something (then the whole command runs)."""
    person_id = caller.person.id
    if module_code is None:  # a refusal (no module of theirs) is left to student_marks
        snaps: list[snapshot.ModuleSnapshot] = []
        for info in sorted(modules.values(), key=lambda m: m.code):
            if caller.is_student_in(info.id):
                snap = snapshot_of(info.id)
                if snap is None:
                    return None
                snaps.append(snap)
        if not snaps:
            return None
        return SummaryView(
            tuple(
                _summary(_student_view(s, caller, read(s.module.id, person_id), now)) for s in snaps
            )
        )
    found = modules.get(module_code.strip().upper())
    if found is None or not caller.is_student_in(found.id):
        return None
    snap = snapshot_of(found.id)
    if snap is None:
        return None
    return _student_view(snap, caller, read(found.id, person_id), now)


def _my_modules(
    caller: Caller, modules: Mapping[str, snapshot.ModuleInfo]
) -> list[snapshot.ModuleInfo]:
    mine = sorted((m for m in modules.values() if caller.is_student_in(m.id)), key=lambda m: m.code)
    if not mine:
        raise PermissionDenied("You are not enrolled as a student in any module.")
    return mine


def _summary(view: StudentView) -> ModuleSummary:
    return ModuleSummary(
        view.module_code, view.module_title, view.book.mark.mark, view.released_at is not None
    )


@lru_cache(maxsize=16384)
def _cell(source: str, item_type: str, item_id: int) -> tuple[CellKey, tuple[str, int]] | None:
    """``ledger_key`` and its item, for the few distinct (source, item) a module's rows name."""
    key = ledger_key(source, item_type, item_id)
    return None if key is None else (key, (key[0], key[1]))


def _student_view(
    snap: snapshot.ModuleSnapshot,
    caller: Caller,
    rows: Sequence[CreditRow],
    now: datetime,
) -> StudentView:
    """One module's view from its snapshot and the student's ledger rows (no I/O): the
    student's sums per cell and per source here; the text they share, once per module
    (``ViewPlan``)."""
    info = snap.module
    person_id = caller.person.id
    # Each row is a ledger (source, item)'s sum, or one adjustment, in credit order.
    earned: dict[CellKey, int] = {}
    by_item: dict[tuple[str, int], dict[str, int]] = {}
    notes: dict[tuple[str, int], list[str]] = {}
    for _person, source, item_type, item_id, milli, note, _first in rows:
        cell = _cell(source, item_type, item_id)
        if cell is None:
            continue
        key, item = cell
        earned[key] = earned.get(key, 0) + milli
        sources = by_item.get(item)
        if sources is None:
            by_item[item] = {source: milli}
        else:
            sources[source] = sources.get(source, 0) + milli
        if note and source == _ADJUSTMENT_SOURCE:  # each adjustment's reason, in row order
            notes.setdefault(item, []).append(f"{format_milli(milli)}: {note}")
    items, layout, plan = snap.plan_at(now)
    if not plan.item_keys.issuperset(by_item):  # rows for items the module no longer lists
        extra = unlisted_items(items, earned)
        items = items + extra
        layout = Layout(items)
        plan = plan.with_items(extra)
    record = StudentRecord(
        person_id=person_id,
        earned=earned,
        extensions=snap.extensions.get(person_id, {}),
        late=frozenset(snap.late.get(person_id, ())),
    )
    return StudentView(
        module_code=info.code,
        module_title=info.title,
        student_name=caller.person.display_name,
        scheme=snap.scheme.scheme,
        items=items,
        book=build_student_book(layout, record, snap.scheme.scheme, now),
        released_at=snap.release.released_at if snap.release else None,
        plan=plan,
        sources=by_item,
        why=snap.explanations.get(person_id, {}),
        notes=notes,
    )

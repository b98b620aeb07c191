"""The student's own view of their marks (``/marks``), in the bot and in the reader process."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
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
    to_milli,
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
            rows = await raw_rows(session, _MY_ENTRIES, (info.id, person_id))
            summaries.append(_summary(_student_view(snap, caller, rows, now)))
        return SummaryView(tuple(summaries))
    found = modules.get(module_code.strip().upper())
    if found is None:
        await module_by_code(session, caller.cohort_id, module_code)  # names the valid codes
        raise NotFound(f"There is no module {shown(module_code)} in this cohort.")
    require_student(caller, Module(id=found.id, code=found.code))
    snap = await snapshot.module_snapshot(session, found, zone, now)
    rows = await raw_rows(session, _MY_ENTRIES, (found.id, person_id))
    return _student_view(snap, caller, rows, now)


RowReader = Callable[[str, tuple[Any, ...]], Sequence[Sequence[Any]]]


def held_student_marks(
    db_key: str, caller: Caller, module_code: str | None, now: datetime, read: RowReader
) -> StudentView | SummaryView | None:
    """What ``student_marks`` answers, from snapshots this process already holds, reading only
    the student's own rows (``read``, synchronously); None where it would load or refuse
    something (then call ``student_marks``). The reader process's fast path."""
    held = snapshot.held_modules(db_key, caller.cohort_id)
    if held is None:
        return None
    return marks_from(
        caller,
        module_code,
        now,
        held,
        lambda module_id: snapshot.held(db_key, module_id, now),
        read,
    )


def marks_from(
    caller: Caller,
    module_code: str | None,
    now: datetime,
    modules: Mapping[str, snapshot.ModuleInfo],
    snapshot_of: Callable[[int], snapshot.ModuleSnapshot | None],
    read: RowReader,
) -> StudentView | SummaryView | None:
    """``held_student_marks`` from given modules and snapshots (a crowd's, taken for it:
    ``bot.gradebook.crowd``); None where ``student_marks`` would load or refuse something."""
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
                _summary(_student_view(s, caller, read(_MY_ENTRIES, (s.module.id, person_id)), now))
                for s in snaps
            )
        )
    found = modules.get(module_code.strip().upper())
    if found is None or not caller.is_student_in(found.id):
        return None
    snap = snapshot_of(found.id)
    if snap is None:
        return None
    return _student_view(snap, caller, read(_MY_ENTRIES, (found.id, person_id)), now)


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


#: The student's own credits: read on every /marks, so straight from the driver.
_MY_ENTRIES = (
    "SELECT source, item_type, item_id, points, note FROM ledger_entries "
    "WHERE module_id = ? AND person_id = ? ORDER BY id"
)


_ADJUSTMENT_SOURCE = LedgerSource.ADJUSTMENT.value


def _milli(raw: object) -> int:
    """A ledger amount as the driver returns it (SQLite: int or float; PostgreSQL: Decimal),
    in exact thousandths (the column keeps 3 decimals)."""
    kind = type(raw)
    if kind is int:
        return raw * 1000  # type: ignore[operator]
    if kind is float:
        return round(raw * 1000)  # type: ignore[operator]
    if isinstance(raw, Decimal):
        return _decimal_milli(raw)
    if isinstance(raw, int):
        return raw * 1000
    if isinstance(raw, float):
        return round(raw * 1000)
    return to_milli(Decimal(str(raw)))


@lru_cache(maxsize=4096)
def _decimal_milli(points: Decimal) -> int:
    """PostgreSQL's amounts: a few distinct values (4.000, 2.500) over a whole term's rows."""
    return to_milli(points)


def _student_view(
    snap: snapshot.ModuleSnapshot,
    caller: Caller,
    rows: Sequence[Sequence[Any]],
    now: datetime,
) -> StudentView:
    """One module's view from its snapshot and the student's ledger rows (no I/O): the
    student's sums per cell and per source here; the text they share, once per module
    (``ViewPlan``)."""
    info = snap.module
    person_id = caller.person.id
    # Summed per ledger (source, item) first: a few rows each (posts, replies, reviews).
    summed: dict[tuple[Any, Any, Any], int] = {}
    noted: list[tuple[Any, Any, Any, int, str]] = []
    for source, item_type, item_id, raw_points, note in rows:
        milli = _milli(raw_points)
        at = (source, item_type, item_id)
        summed[at] = summed.get(at, 0) + milli
        if note and source == _ADJUSTMENT_SOURCE:
            noted.append((source, item_type, item_id, milli, note))
    earned: dict[CellKey, int] = {}
    by_item: dict[tuple[str, int], dict[str, int]] = {}
    for (source, item_type, item_id), milli in summed.items():
        key = ledger_key(source, item_type, item_id)
        if key is None:
            continue
        earned[key] = earned.get(key, 0) + milli
        item = (key[0], key[1])
        sources = by_item.get(item)
        if sources is None:
            by_item[item] = {source: milli}
        else:
            sources[source] = sources.get(source, 0) + milli
    notes: dict[tuple[str, int], list[str]] = {}
    for source, item_type, item_id, milli, note in noted:  # each row's reason, in row order
        key = ledger_key(source, item_type, item_id)
        if key is not None:
            notes.setdefault((key[0], key[1]), []).append(f"{format_milli(milli)}: {note}")
    items, layout, plan = snap.plan_at(now)
    extra = unlisted_items(items, earned)
    if extra:
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

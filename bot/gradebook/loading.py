"""Load a module's gradebook from the database into the pure ``book`` structures.

One place reads the ledger, the items (prompts, exercises, tutorials), extensions and late
flags, so the student view, the tutor export, the CLI export and the benchmark all see the
same numbers. Queries are grouped in SQL (one row per student and item, not per credit), so a
5,000-student module loads in a fraction of a second on SQLite.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    CalendarEvent,
    ComponentMark,
    Contribution,
    DiscussionPrompt,
    Enrolment,
    EnrolmentStatus,
    EventKind,
    EventOccurrence,
    ExerciseStatus,
    MarkRelease,
    Module,
    OccurrenceStatus,
    PeerExercise,
    PeerSubmission,
    Person,
    PromptStatus,
    Role,
)
from bot.db.models import MarkScheme as MarkSchemeRow
from bot.discussions import Rubric, RubricError
from bot.due import ItemKind, load_grants
from bot.due.rules import reached
from bot.gradebook.book import (
    ADJUSTMENT_PREFIX,
    ITEM_TYPE_ALIASES,
    ZERO,
    CellKey,
    Column,
    Item,
    ItemPart,
    ItemType,
    Layout,
    StudentBook,
    StudentRecord,
    build_student_book,
    canonical_item_type,
    unlisted_items,
)
from bot.gradebook.marks import (
    DEFAULT_SCHEME,
    HUNDRED,
    Component,
    MarkScheme,
    ModuleMarkPreview,
    WeightedPart,
    module_mark,
)

#: ``MarkRelease.item_type`` of a module's participation mark as a whole.
PARTICIPATION = "participation"


@dataclass(frozen=True)
class SchemeInfo:
    scheme: MarkScheme
    participation_share: Decimal | None
    customised: bool


@dataclass(frozen=True)
class Release:
    released_at: datetime
    released_by_id: int | None


@dataclass(frozen=True)
class StudentRow:
    person_id: int
    student_number: str | None
    name: str
    username: str | None
    status: EnrolmentStatus
    book: StudentBook
    components: dict[str, Decimal]
    module_mark: ModuleMarkPreview | None


@dataclass(frozen=True)
class ModuleBook:
    """Everything an export or a view shows for one module (some or all of its students)."""

    module: Module
    zone: str
    items: list[Item]
    columns: list[Column]
    layout: Layout
    scheme: SchemeInfo
    release: Release | None
    students: list[StudentRow]
    component_weights: dict[str, Decimal] = field(default_factory=dict)

    @property
    def status_label(self) -> str:
        return "released" if self.release is not None else "provisional"


async def load_scheme(session: AsyncSession, module_id: int) -> SchemeInfo:
    row = (
        await session.execute(select(MarkSchemeRow).where(MarkSchemeRow.module_id == module_id))
    ).scalar_one_or_none()
    if row is None:
        return SchemeInfo(DEFAULT_SCHEME, None, False)
    return SchemeInfo(MarkScheme.from_dict(row.weights), row.participation_share, True)


async def load_release(session: AsyncSession, module_id: int) -> Release | None:
    row = (
        await session.execute(
            select(MarkRelease.released_at, MarkRelease.released_by_id).where(
                MarkRelease.module_id == module_id,
                MarkRelease.item_type == PARTICIPATION,
                MarkRelease.item_id == module_id,
            )
        )
    ).one_or_none()
    return None if row is None else Release(row[0], row[1])


def _canonical(item_type: str) -> str:
    kind = canonical_item_type(item_type)
    return kind.value if kind is not None else item_type


def _local_date(moment: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.astimezone(tz).strftime("%a %d %b %Y")


@dataclass(frozen=True)
class ItemRows:
    """The module's item rows as stored; ``items_at`` turns them into items for a moment."""

    prompts: tuple[tuple[Any, ...], ...]
    exercises: tuple[tuple[Any, ...], ...]
    occurrences: tuple[tuple[Any, ...], ...]
    released: frozenset[tuple[str, int]]

    @functools.cached_property
    def moments(self) -> tuple[datetime, ...]:
        """Every time ``items_at`` compares ``now`` with, sorted: between two of them (or
        before the first, after the last) it returns the same items."""
        found = [row[2] for row in self.prompts]
        found += [row[2] for row in self.exercises]
        found += [t for row in self.occurrences for t in (row[1], row[2])]
        return tuple(sorted(t for t in found if t is not None))

    def items_at(self, zone: str, now: datetime) -> list[Item]:
        items: list[Item] = []
        for pid, title, opens_at, closes_at, available, status, released_at in self.prompts:
            closed = status == PromptStatus.CLOSED
            released = released_at is not None or ("prompt", pid) in self.released
            if released and closed:
                label = "released"
            elif closed:
                label = "closed"
            elif reached(opens_at, now):
                label = "open"
            else:
                label = "scheduled"
            part = ItemPart(Component.DISCUSSION, available, closed)
            items.append(Item(ItemType.PROMPT, pid, title, closes_at, label, (part,), released))
        for eid, title, review_due, k, status, released_at in self.exercises:
            released = (
                status == ExerciseStatus.RELEASED
                or released_at is not None
                or ("exercise", eid) in self.released
            )
            reviews_over = reached(review_due, now) or released
            label = "released" if released else ("reviews closed" if reviews_over else "open")
            parts = (
                ItemPart(Component.PEER_REVIEW, Decimal(k), reviews_over),
                ItemPart(Component.PEER_SCORE, HUNDRED, released),
            )
            items.append(Item(ItemType.EXERCISE, eid, title, review_due, label, parts, released))
        for oid, starts_at, ends_at, title in self.occurrences:
            held = reached(ends_at, now)
            label = "held" if held else ("in progress" if reached(starts_at, now) else "upcoming")
            part = ItemPart(Component.ATTENDANCE, Decimal(1), held)
            name = f"{title}, {_local_date(starts_at, zone)}"
            items.append(Item(ItemType.OCCURRENCE, oid, name, starts_at, label, (part,)))
        return items


def _max_score(rubric: dict[str, Any] | None) -> Decimal:
    try:
        return Rubric.from_dict(rubric or {}).max_score
    except RubricError:
        return ZERO


async def _tuples(session: AsyncSession, stmt: Any) -> tuple[tuple[Any, ...], ...]:
    """The rows as plain tuples, the form ``ItemRows`` holds."""
    return tuple(tuple(row) for row in (await session.execute(stmt)).all())


async def load_item_rows(session: AsyncSession, module_id: int) -> ItemRows:
    released = frozenset(
        (_canonical(t), i)
        for t, i in (
            await session.execute(
                select(MarkRelease.item_type, MarkRelease.item_id).where(
                    MarkRelease.module_id == module_id
                )
            )
        ).all()
    )
    prompts = tuple(
        (pid, title, opens_at, closes_at, _max_score(rubric), status, released_at)
        for pid, title, opens_at, closes_at, rubric, status, released_at in (
            await session.execute(
                select(
                    DiscussionPrompt.id,
                    DiscussionPrompt.title,
                    DiscussionPrompt.opens_at,
                    DiscussionPrompt.closes_at,
                    DiscussionPrompt.rubric,
                    DiscussionPrompt.status,
                    DiscussionPrompt.released_at,
                ).where(
                    DiscussionPrompt.module_id == module_id,
                    DiscussionPrompt.status != PromptStatus.CANCELLED,
                )
            )
        ).all()
    )
    exercises = await _tuples(
        session,
        select(
            PeerExercise.id,
            PeerExercise.title,
            PeerExercise.review_due_at,
            PeerExercise.reviews_per_submission,
            PeerExercise.status,
            PeerExercise.released_at,
        ).where(
            PeerExercise.module_id == module_id,
            PeerExercise.status != ExerciseStatus.CANCELLED,
        ),
    )
    occurrences = await _tuples(
        session,
        select(
            EventOccurrence.id,
            EventOccurrence.starts_at,
            EventOccurrence.ends_at,
            CalendarEvent.title,
        )
        .join(CalendarEvent, CalendarEvent.id == EventOccurrence.event_id)
        .where(
            CalendarEvent.module_id == module_id,
            CalendarEvent.kind == EventKind.TUTORIAL,
            CalendarEvent.cancelled_at.is_(None),
            EventOccurrence.status == OccurrenceStatus.SCHEDULED,
        ),
    )
    return ItemRows(prompts, exercises, occurrences, released)


async def load_items(session: AsyncSession, module: Module, zone: str, now: datetime) -> list[Item]:
    """The module's gradable items, with what each is worth and whether it counts yet."""
    return (await load_item_rows(session, module.id)).items_at(zone, now)


async def raw_rows(
    session: AsyncSession, sql: str, params: Sequence[Any]
) -> Sequence[Sequence[Any]]:
    """Plain tuples straight from the driver: the hot read of a big export.

    SQLAlchemy's result layer costs about as much again as SQLite itself on 300,000 rows, so
    this one read goes to the driver (aiosqlite or asyncpg) on the session's own connection,
    inside its transaction. ``sql`` uses ``?`` placeholders; asyncpg gets ``$n``.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if connection.dialect.name == "postgresql":
        index = iter(range(1, len(params) + 1))
        pg_sql = re.sub(r"\?", lambda _m: f"${next(index)}", sql)
        return await driver.fetch(pg_sql, *params)  # type: ignore[no-any-return]
    # one trip to aiosqlite's thread (execute, fetch and close together)
    return await driver.execute_fetchall(sql, tuple(params))  # type: ignore[no-any-return]


def _cell_code_sql() -> str:
    """A small integer per (component, canonical item type), computed by the database.

    Small ints cost Python nothing to create or hash, unlike the two strings of every row;
    the CASE is generated from ``ITEM_TYPE_ALIASES`` so the spellings stay in one place.
    """
    component = " ".join(f"WHEN '{c.value}' THEN {i}" for i, c in enumerate(_CELL_COMPONENTS))
    kinds = []
    for index, kind in enumerate(_CELL_TYPES):
        names = sorted(n for n, k in ITEM_TYPE_ALIASES.items() if k is kind)
        quoted = ", ".join(f"'{n}'" for n in names)
        kinds.append(f"WHEN item_type IN ({quoted}) THEN {index}")
    adjustment = len(_CELL_TYPES)
    return (
        f"(CASE component {component} ELSE 15 END) * 16 + (CASE "
        f"WHEN substr(item_type, 1, 4) = '{ADJUSTMENT_PREFIX}' THEN {adjustment} "
        f"{' '.join(kinds)} ELSE 15 END)"
    )


_CELL_COMPONENTS: tuple[Component, ...] = tuple(Component)
_CELL_TYPES = (ItemType.PROMPT, ItemType.EXERCISE, ItemType.OCCURRENCE)
_OTHER = 15
_KNOWN_TYPES = ", ".join(f"'{n}'" for n in sorted(ITEM_TYPE_ALIASES))
_CELLS_SQL = (
    f"SELECT person_id, {_cell_code_sql()} AS code, "
    f"CASE WHEN item_type IN ({_KNOWN_TYPES}) THEN NULL ELSE item_type END, "
    "item_id, points_milli FROM ledger_cells WHERE module_id = ?"
)


def _decode(code: int, item_type: str) -> tuple[str, str, bool] | None:
    """(item type key, component value, is an adjustment) of a cell code; None: not counted."""
    component_index, type_index = divmod(code, 16)
    if component_index >= len(_CELL_COMPONENTS):
        return None
    component = _CELL_COMPONENTS[component_index].value
    if type_index == len(_CELL_TYPES):
        return (ItemType.ADJUSTMENT.value, component, True)
    if type_index < len(_CELL_TYPES):
        return (_CELL_TYPES[type_index].value, component, False)
    return (item_type, component, False)


async def load_earned(
    session: AsyncSession, module_id: int, person_ids: Collection[int] | None = None
) -> dict[int, dict[CellKey, int]]:
    """Ledger sums (thousandths) per student and gradebook cell, from the database-kept cells.

    ``ledger_cells`` is maintained by a trigger on every ledger insert (migration 0003).
    """
    sql = _CELLS_SQL
    params: list[Any] = [module_id]
    if person_ids is not None:
        ids = sorted(person_ids)
        if not ids:
            return {}
        sql += f" AND person_id IN ({', '.join('?' for _ in ids)})"
        params += ids
    rows = await raw_rows(session, sql, params)
    earned: dict[int, dict[CellKey, int]] = {}
    memo: dict[int, tuple[str, str, bool] | None] = {}
    other: dict[tuple[int, str], tuple[str, str, bool] | None] = {}
    last_person: int | None = None
    cells: dict[CellKey, int] = {}
    for person_id, code, item_type, item_id, milli in rows:
        if not milli:
            continue
        if code % 16 == _OTHER:
            kind = other.get((code, item_type), _UNSEEN)
            if kind is _UNSEEN:
                kind = other[(code, item_type)] = _decode(code, item_type)
        else:
            kind = memo.get(code, _UNSEEN)
            if kind is _UNSEEN:
                kind = memo[code] = _decode(code, item_type)
        if kind is None:
            continue
        if person_id != last_person:
            cells = earned.setdefault(person_id, {})
            last_person = person_id
        key: CellKey = (kind[0], 0 if kind[2] else item_id, kind[1])
        if key in cells:
            cells[key] += milli
        else:
            cells[key] = milli
    return earned


_UNSEEN: Any = object()


async def load_extensions(
    session: AsyncSession, items: Sequence[Item], person_ids: Collection[int] | None
) -> dict[int, dict[tuple[str, int], datetime]]:
    """Each student's extensions that apply (``bot.due``), by item: one query for the module."""
    kinds = {ItemType.PROMPT: ItemKind.PROMPT, ItemType.EXERCISE: ItemKind.SUBMISSION}
    wanted = [(kinds[i.item_type], i.item_id) for i in items if i.item_type in kinds]
    result: dict[int, dict[tuple[str, int], datetime]] = defaultdict(dict)
    if not wanted:
        return result
    grants = await load_grants(session, wanted, person_ids)
    names = {ItemKind.PROMPT: "prompt", ItemKind.SUBMISSION: "exercise"}
    for (kind, item_id, person_id), until in grants.extensions().items():
        result[person_id][(names[kind], item_id)] = until
    return result


async def load_late(
    session: AsyncSession, items: Sequence[Item], person_ids: Collection[int] | None
) -> dict[int, set[tuple[str, int]]]:
    prompt_ids = [i.item_id for i in items if i.item_type is ItemType.PROMPT]
    exercise_ids = [i.item_id for i in items if i.item_type is ItemType.EXERCISE]
    late: dict[int, set[tuple[str, int]]] = defaultdict(set)
    # (kind, ids, person column, item column, what makes a row count as late work)
    sources: tuple[tuple[str, list[int], Any, Any, tuple[Any, ...]], ...] = (
        (
            "prompt",
            prompt_ids,
            Contribution.person_id,
            Contribution.prompt_id,
            (
                Contribution.late.is_(True),
                Contribution.deleted_at.is_(None),
                Contribution.person_id.is_not(None),
            ),
        ),
        (
            "exercise",
            exercise_ids,
            PeerSubmission.person_id,
            PeerSubmission.exercise_id,
            (PeerSubmission.late.is_(True), PeerSubmission.is_current.is_(True)),
        ),
    )
    for kind, ids, person_column, item_column, conditions in sources:
        if not ids:
            continue
        stmt = select(person_column, item_column).where(item_column.in_(ids), *conditions)
        if person_ids is not None:
            stmt = stmt.where(person_column.in_(sorted(person_ids)))
        for person_id, item_id in (await session.execute(stmt.distinct())).all():
            late[person_id].add((kind, item_id))
    return late


async def load_component_marks(
    session: AsyncSession, module_id: int, person_ids: Collection[int] | None
) -> tuple[dict[int, dict[str, Decimal]], dict[str, Decimal]]:
    stmt = select(
        ComponentMark.person_id, ComponentMark.component, ComponentMark.weight, ComponentMark.mark
    ).where(ComponentMark.module_id == module_id)
    if person_ids is not None:
        stmt = stmt.where(ComponentMark.person_id.in_(sorted(person_ids)))
    marks: dict[int, dict[str, Decimal]] = defaultdict(dict)
    weights: dict[str, Decimal] = {}
    for person_id, component, weight, mark in (await session.execute(stmt)).all():
        marks[person_id][component] = Decimal(mark)
        weights[component] = Decimal(weight)
    return marks, weights


def preview_module_mark(
    components: dict[str, Decimal],
    weights: dict[str, Decimal],
    participation: Decimal | None,
    share: Decimal | None,
) -> ModuleMarkPreview | None:
    """The module mark from imported components plus participation at its share, if set."""
    parts = [WeightedPart(name, weights[name], components.get(name)) for name in sorted(weights)]
    if share is not None and share > 0:
        parts.insert(0, WeightedPart("Participation", share, participation))
    if not parts:
        return None
    return module_mark(parts)


async def load_module_book(
    session: AsyncSession,
    module: Module,
    zone: str,
    now: datetime,
    *,
    person_ids: Collection[int] | None = None,
    include_withdrawn: bool = True,
) -> ModuleBook:
    """The gradebook of a module: every student enrolled (or only ``person_ids``)."""
    scheme = await load_scheme(session, module.id)
    release = await load_release(session, module.id)
    items = await load_items(session, module, zone, now)
    stmt = (
        select(
            Person.id,
            Person.student_number,
            Person.display_name,
            Person.platform_username,
            Enrolment.status,
        )
        .join(Enrolment, and_(Enrolment.person_id == Person.id, Enrolment.module_id == module.id))
        .where(Enrolment.role == Role.STUDENT)
    )
    if person_ids is not None:
        stmt = stmt.where(Person.id.in_(sorted(person_ids)))
    if not include_withdrawn:
        stmt = stmt.where(Enrolment.status == EnrolmentStatus.ACTIVE)
    people = (await session.execute(stmt)).all()
    earned = await load_earned(session, module.id, person_ids)
    seen: set[CellKey] = set()
    for cells in earned.values():
        seen.update(cells)
    items = items + unlisted_items(items, seen)
    extensions = await load_extensions(session, items, person_ids)
    late = await load_late(session, items, person_ids)
    components, weights = await load_component_marks(session, module.id, person_ids)
    layout = Layout(items)
    rows: list[StudentRow] = []
    empty: dict[CellKey, int] = {}
    no_extensions: dict[tuple[str, int], datetime] = {}
    no_late: frozenset[tuple[str, int]] = frozenset()
    for pid, number, name, username, status in people:
        mine_late = late.get(pid)
        record = StudentRecord(
            person_id=pid,
            earned=earned.get(pid, empty),
            extensions=extensions.get(pid, no_extensions),
            late=frozenset(mine_late) if mine_late else no_late,
        )
        book = build_student_book(layout, record, scheme.scheme, now)
        mine = components.get(pid, {})
        preview = preview_module_mark(mine, weights, book.mark.mark, scheme.participation_share)
        rows.append(
            StudentRow(pid, number, name, username, EnrolmentStatus(status), book, mine, preview)
        )
    rows.sort(key=lambda r: (r.student_number is None, r.student_number or "", r.name, r.person_id))
    return ModuleBook(
        module=module,
        zone=zone,
        items=items,
        columns=layout.columns,
        layout=layout,
        scheme=scheme,
        release=release,
        students=rows,
        component_weights=dict(sorted(weights.items())),
    )

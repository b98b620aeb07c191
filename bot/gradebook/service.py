"""Gradebook commands: the student's view, weights, release, adjustments, audit, imports, exports.

Every function takes the session of one command (so a refusal rolls everything back), the
resolved caller and the bot's clock time, checks the caller's role against the roster first,
and returns a plain result for the adapter to render.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser, resolve_person
from bot.access.permissions import (
    Caller,
    module_by_code,
    require_admin,
    require_staff,
    require_student,
)
from bot.calendar.timeparse import discord_timestamp
from bot.db.models import (
    AuditEntry,
    Cohort,
    ComponentMark,
    Enrolment,
    LedgerEntry,
    LedgerSource,
    MarkRelease,
    Module,
    Person,
    Role,
)
from bot.db.models import MarkScheme as MarkSchemeRow
from bot.errors import NotFound, PermissionDenied, UserError, shown
from bot.gradebook import audit, ledger, snapshot
from bot.gradebook.book import (
    ITEM_TYPE_ALIASES,
    CellKey,
    ItemType,
    Layout,
    StudentRecord,
    adjustment_item_type,
    build_student_book,
    canonical_item_type,
    format_milli,
    format_points,
    from_milli,
    ledger_key,
    to_milli,
    unlisted_items,
)
from bot.gradebook.classification import ClassificationError, ModuleResult, classify
from bot.gradebook.components import ComponentImportError, parse_component_csv
from bot.gradebook.export import (
    FORMATS,
    ExportFile,
    ProgrammeRow,
    items_table,
    module_table,
    programme_table,
    render,
)
from bot.gradebook.loading import (
    PARTICIPATION,
    ModuleBook,
    load_module_book,
    load_release,
    load_scheme,
    raw_rows,
)
from bot.gradebook.marks import COMPONENT_LABELS, Component, MarkScheme, format_mark
from bot.gradebook.view import (
    SUMMARY_TITLE,
    ItemDetail,
    ModuleSummary,
    StudentView,
    render_summaries,
)

MAX_ADJUSTMENT = Decimal(1000)
TERM_ORDER = {"autumn": 0, "spring": 1, "summer": 2}


async def _staff_module(session: AsyncSession, caller: Caller, code: str) -> Module:
    module = await module_by_code(session, caller.cohort_id, code)
    require_staff(caller, module)
    return module


async def _cohort_zone(session: AsyncSession, cohort_id: int) -> str:
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
    person_id = caller.person.id
    if module_code is None:  # a refusal (no module of theirs) is left to student_marks
        snaps: list[snapshot.ModuleSnapshot] = []
        for info in sorted(held.values(), key=lambda m: m.code):
            if caller.is_student_in(info.id):
                snap = snapshot.held(db_key, info.id, now)
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
    found = held.get(module_code.strip().upper())
    if found is None or not caller.is_student_in(found.id):
        return None
    snap = snapshot.held(db_key, found.id, now)
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
    if isinstance(raw, int):
        return raw * 1000
    if isinstance(raw, float):
        return round(raw * 1000)
    return to_milli(Decimal(str(raw)))


def _student_view(
    snap: snapshot.ModuleSnapshot,
    caller: Caller,
    rows: Sequence[Sequence[Any]],
    now: datetime,
) -> StudentView:
    """One module's view from its snapshot and the student's ledger rows (no I/O)."""
    info = snap.module
    person_id = caller.person.id
    earned: dict[CellKey, int] = {}
    by_item: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    notes: dict[tuple[str, int], list[str]] = defaultdict(list)
    for source, item_type, item_id, raw_points, note in rows:
        key = ledger_key(source, item_type, item_id)
        if key is None:
            continue
        milli = _milli(raw_points)
        earned[key] = earned.get(key, 0) + milli
        item = (key[0], key[1])
        sources = by_item[item]
        sources[source] = sources.get(source, 0) + milli
        if source == _ADJUSTMENT_SOURCE and note:
            notes[item].append(f"{format_milli(milli)}: {note}")
    items, layout = snap.layout_at(now)
    extra = unlisted_items(items, earned)
    if extra:
        items = items + extra
        layout = Layout(items)
    record = StudentRecord(
        person_id=person_id,
        earned=earned,
        extensions=snap.extensions.get(person_id, {}),
        late=frozenset(snap.late.get(person_id, ())),
    )
    book = build_student_book(layout, record, snap.scheme.scheme, now)
    why = snap.explanations.get(person_id, {})
    details = {
        k: ItemDetail(
            by_source={src: from_milli(m) for src, m in by_item.get(k, {}).items()},
            why=why.get(k),
            notes=tuple(notes.get(k, ())),
        )
        for k in set(by_item) | set(why) | set(notes)
    }
    return StudentView(
        module_code=info.code,
        module_title=info.title,
        student_name=caller.person.display_name,
        scheme=snap.scheme.scheme,
        items=items,
        book=book,
        details=details,
        released_at=snap.release.released_at if snap.release else None,
    )


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class WeightsResult:
    module_code: str
    scheme: MarkScheme
    participation_share: Decimal | None
    changed: bool

    @property
    def text(self) -> str:
        share = (
            "participation is not part of the module mark preview"
            if not self.participation_share
            else f"participation weighs {format_points(self.participation_share)} in the module "
            "mark preview (same scale as imported component weights)"
        )
        head = "Weights saved" if self.changed else "Current weights"
        return f"{head} for {self.module_code}: {self.scheme.render()}; {share}."


def _decimal_option(name: str, value: float | str | Decimal) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise UserError(f"The {name} must be a number, not {shown(value)}.") from None
    if not number.is_finite():
        raise UserError(f"The {name} must be a number, not {shown(value)}.")
    return number


async def set_weights(
    session: AsyncSession,
    caller: Caller,
    module_code: str,
    changes: Mapping[str, float | str | Decimal | None],
    *,
    participation_share: float | str | Decimal | None = None,
    reason: str | None = None,
    now: datetime,
) -> WeightsResult:
    """Show the weights, or change some (the others keep their value); audited."""
    module = await _staff_module(session, caller, module_code)
    current = await load_scheme(session, module.id)
    given = {k: v for k, v in changes.items() if v is not None}
    if not given and participation_share is None:
        return WeightsResult(module.code, current.scheme, current.participation_share, False)
    weights: dict[str, object] = {c.value: w for c, w in current.scheme.weights.items()}
    weights.update(given)
    scheme = MarkScheme.from_dict(weights)
    share = current.participation_share
    if participation_share is not None:
        share = _decimal_option("participation share", participation_share)
        if not (0 <= share <= 1000) or share != share.quantize(Decimal("0.001")):
            raise UserError(
                "The participation share must be from 0 to 1000 with at most 3 decimals "
                "(0 leaves participation out of the module mark preview)."
            )
        share = share.normalize() if share else Decimal(0)
    row = (
        await session.execute(select(MarkSchemeRow).where(MarkSchemeRow.module_id == module.id))
    ).scalar_one_or_none()
    before = {**current.scheme.to_dict(), "participation_share": _opt(current.participation_share)}
    if row is None:
        row = MarkSchemeRow(module_id=module.id, weights=scheme.to_dict())
        session.add(row)
    snapshot.forget(session, module.id)
    row.weights = scheme.to_dict()
    row.participation_share = share
    row.updated_by_id = caller.person.id
    row.updated_at = now
    await session.flush()
    after = {**scheme.to_dict(), "participation_share": _opt(share)}
    await audit.record(
        session,
        actor=caller.person,
        action="weights_changed",
        entity_type="mark_scheme",
        entity_id=module.id,
        module_id=module.id,
        before=before,
        after=after,
        reason=reason,
        at=now,
    )
    return WeightsResult(module.code, scheme, share, True)


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else format_points(value)


# --------------------------------------------------------------------------- release


@dataclass(frozen=True)
class ReleaseResult:
    module_code: str
    students: int
    channel_id: str | None
    role_id: str | None
    released_at: datetime

    @property
    def text(self) -> str:
        return (
            f"Participation marks of {self.module_code} are released to its {self.students} "
            "students; each sees their own with /marks. They stay provisional for the exam board."
        )

    @property
    def announcement(self) -> str:
        return (
            f"Participation marks for {self.module_code} are released. Use `/marks module:"
            f"{self.module_code}` to see yours and how it was computed (only you see it)."
        )


async def release_participation(
    session: AsyncSession, caller: Caller, module_code: str, now: datetime
) -> ReleaseResult:
    module = await _staff_module(session, caller, module_code)
    existing = await load_release(session, module.id)
    if existing is not None:
        raise UserError(
            f"Participation marks of {module.code} were already released on "
            f"{discord_timestamp(existing.released_at, 'F')}."
        )
    zone = await _cohort_zone(session, caller.cohort_id)
    book = await load_module_book(session, module, zone, now, include_withdrawn=False)
    snapshot.forget(session, module.id)
    release = MarkRelease(
        module_id=module.id,
        item_type=PARTICIPATION,
        item_id=module.id,
        released_at=now,
        released_by_id=caller.person.id,
    )
    session.add(release)
    await session.flush()
    marks = {
        str(s.person_id): (format_mark(s.book.mark.mark) if s.book.mark.mark is not None else None)
        for s in book.students
    }
    await audit.record(
        session,
        actor=caller.person,
        action="participation_released",
        entity_type=PARTICIPATION,
        entity_id=module.id,
        module_id=module.id,
        before={"status": "provisional"},
        after={"status": "released", "marks": marks},
        at=now,
    )
    return ReleaseResult(module.code, len(book.students), module.channel_id, module.role_id, now)


# --------------------------------------------------------------------------- adjustments


@dataclass(frozen=True)
class AdjustResult:
    module_code: str
    student: str
    component: Component
    points: Decimal
    before: Decimal | None
    after: Decimal | None

    @property
    def text(self) -> str:
        sign = "+" if self.points > 0 else ""
        before = "none" if self.before is None else format_mark(self.before)
        after = "none" if self.after is None else format_mark(self.after)
        return (
            f"Adjusted {self.student}'s {COMPONENT_LABELS[self.component].lower()} in "
            f"{self.module_code} by {sign}{format_points(self.points)} "
            f"{'point' if abs(self.points) == 1 else 'points'}: participation mark "
            f"{before} → {after} (provisional). The change is in the audit trail."
        )


async def adjust(
    session: AsyncSession,
    caller: Caller,
    module_code: str,
    student: ChatUser,
    component: str,
    points: float | str | Decimal,
    reason: str,
    now: datetime,
    *,
    request_id: str,
) -> AdjustResult:
    """A tutor's correction: a ledger row of its own (never an edit), with its reason, audited.

    ``request_id`` (the interaction id) is the idempotency key: a retried command counts once.
    """
    module = await _staff_module(session, caller, module_code)
    try:
        which = Component(component.strip().lower())
    except ValueError:
        raise UserError(
            f"There is no participation component {shown(component)}; use "
            f"{', '.join(c.value for c in Component)}."
        ) from None
    amount = _decimal_option("points", points)
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT or amount != amount.quantize(Decimal("0.001")):
        raise UserError(
            "The points must be a number other than 0, from -1000 to 1000, with at most 3 decimals."
        )
    why = " ".join((reason or "").split())
    if len(why) < 3:
        raise UserError("Give a reason for the adjustment (it is kept in the audit trail).")
    person = await student_in_module(session, module, student)
    zone = await _cohort_zone(session, caller.cohort_id)
    before = await load_module_book(session, module, zone, now, person_ids=[person.id])
    key = f"adjustment:{module.id}:{request_id}"
    added = await ledger.credit(
        session,
        [
            ledger.Credit(
                idempotency_key=key,
                module_id=module.id,
                person_id=person.id,
                source=LedgerSource.ADJUSTMENT,
                item_type=adjustment_item_type(which),
                item_id=0,
                source_ref=f"request:{request_id}",
                points=amount.normalize(),
                occurred_at=now,
                note=why,
            )
        ],
        at=now,
    )
    if added == 0:
        raise UserError("This adjustment was already recorded; nothing changed.")
    entry_id = (
        await session.execute(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == key))
    ).scalar_one()
    after = await load_module_book(session, module, zone, now, person_ids=[person.id])
    await audit.record(
        session,
        actor=caller.person,
        action="adjustment",
        entity_type=ItemType.ADJUSTMENT.value,
        entity_id=entry_id,
        subject_person_id=person.id,
        module_id=module.id,
        before={"participation_mark": _mark_or_none(before)},
        after={
            "participation_mark": _mark_or_none(after),
            which.value: f"{'+' if amount > 0 else ''}{format_points(amount)}",
        },
        reason=why,
        at=now,
    )
    return AdjustResult(
        module.code,
        person.display_name,
        which,
        amount,
        before.students[0].book.mark.mark,
        after.students[0].book.mark.mark,
    )


def _mark_or_none(book: ModuleBook) -> str | None:
    mark = book.students[0].book.mark.mark if book.students else None
    return None if mark is None else format_mark(mark)


# --------------------------------------------------------------------------- audit trail


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    entity: str
    subject: str | None
    before: str
    after: str
    reason: str

    @property
    def text(self) -> str:
        who = f" for {self.subject}" if self.subject else ""
        change = ""
        if self.before or self.after:
            change = f": {self.before or '—'} → {self.after or '—'}"
        why = f" (why: {self.reason})" if self.reason else ""
        return (
            f"{discord_timestamp(self.at, 'f')} · {self.actor} · {self.action} · "
            f"{self.entity}{who}{change}{why}"
        )


@dataclass(frozen=True)
class AuditTrail:
    module_code: str
    scope: str
    lines: tuple[AuditLine, ...]

    @property
    def header(self) -> str:
        count = len(self.lines)
        noun = "entry" if count == 1 else "entries"
        return f"Audit trail of {self.module_code}, {self.scope}: {count} {noun}"

    def csv_rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["at", "actor", "action", "entity", "student", "before", "after", "reason"]
        rows = [
            [
                line.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                line.actor,
                line.action,
                line.entity,
                line.subject or "",
                line.before,
                line.after,
                line.reason,
            ]
            for line in self.lines
        ]
        return header, rows


def _compact(value: Mapping[str, object] | None, limit: int = 300) -> str:
    if not value:
        return ""
    text = ", ".join(f"{k} {_flat(v)}" for k, v in value.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flat(value: object) -> str:
    if isinstance(value, Mapping):
        return (
            "{"
            + ", ".join(f"{k}: {v}" for k, v in list(value.items())[:8])
            + (", …}" if len(value) > 8 else "}")
        )
    return str(value)


ITEM_CODES = {"D": "prompt", "X": "exercise", "T": "occurrence"}


def parse_item_ref(text: str) -> tuple[str, int | None]:
    """``D3`` / ``prompt:3`` / ``X2`` / ``T5`` / ``weights`` / ``participation`` / ``type:id``."""
    raw = text.strip()
    lowered = raw.lower()
    named = {
        "weights": ("mark_scheme", None),
        "participation": (PARTICIPATION, None),
        "release": (PARTICIPATION, None),
        "components": ("component_mark", None),
        "adjustments": (ItemType.ADJUSTMENT.value, None),
    }
    if lowered in named:
        return named[lowered]
    if len(raw) > 1 and raw[0].upper() in ITEM_CODES and raw[1:].isdigit():
        return ITEM_CODES[raw[0].upper()], int(raw[1:])
    if ":" in raw:
        kind, _, ident = raw.partition(":")
        canonical = canonical_item_type(kind)
        if ident.strip().isdigit() and kind.strip():
            return (canonical.value if canonical else kind.strip().lower()), int(ident)
    raise UserError(
        f"I do not know the item {shown(raw)}; use a code such as D3 (prompt), X2 (peer exercise), "
        "T5 (tutorial), or weights, participation, components, adjustments."
    )


async def audit_trail(
    session: AsyncSession,
    caller: Caller,
    module_code: str,
    *,
    student: ChatUser | None = None,
    item: str | None = None,
) -> AuditTrail:
    """The grade changes of a module, for one student and/or one item (staff of it only)."""
    module = await _staff_module(session, caller, module_code)
    subject_id: int | None = None
    scope: list[str] = []
    if student is not None:
        person = await student_in_module(session, module, student)
        subject_id = person.id
        scope.append(person.display_name)
    entity_types: frozenset[str] | None = None
    entity_id: int | None = None
    if item is not None:
        entity_type, entity_id = parse_item_ref(item)
        entity_types = _spellings(entity_type)
        scope.append(item.strip())
    entries = await audit.trail(
        session,
        audit.TrailQuery(
            subject_person_id=subject_id,
            entity_types=entity_types,
            entity_id=entity_id,
            module_ids=frozenset({module.id}),
        ),
    )
    names = await _names(session, {e.subject_person_id for e in entries if e.subject_person_id})
    lines = tuple(_audit_line(e, names) for e in entries)
    return AuditTrail(module.code, " and ".join(scope) or "everything", lines)


def _spellings(entity_type: str) -> frozenset[str]:
    """An item type and every spelling features use for it (prompt, discussion_prompt...)."""
    kind = canonical_item_type(entity_type)
    if kind is None:
        return frozenset({entity_type})
    return frozenset(name for name, k in ITEM_TYPE_ALIASES.items() if k is kind) | {kind.value}


async def _names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Person.id, Person.display_name).where(Person.id.in_(sorted(ids)))
    )
    return {pid: name for pid, name in rows.all()}


def _audit_line(entry: AuditEntry, names: Mapping[int, str]) -> AuditLine:
    entity = (
        entry.entity_type if entry.entity_id is None else f"{entry.entity_type} {entry.entity_id}"
    )
    return AuditLine(
        at=entry.at,
        actor=entry.actor_label,
        action=entry.action,
        entity=entity,
        subject=names.get(entry.subject_person_id) if entry.subject_person_id else None,
        before=_compact(entry.before),
        after=_compact(entry.after),
        reason=entry.reason or "",
    )


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
    module = await _staff_module(session, caller, module_code)
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
            await session.execute(select(ComponentMark).where(ComponentMark.module_id == module.id))
        )
        .scalars()
        .all()
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
    zone = await _cohort_zone(session, module.cohort_id)
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
    module = await _staff_module(session, caller, module_code)
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
        (await session.execute(select(Module).where(Module.cohort_id == cohort.id)))
        .scalars()
        .all(),
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

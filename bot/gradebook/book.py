"""The gradebook of one module as plain data: items, columns, and each student's cells.

Pure logic (no I/O): the service loads rows and hands them here; the student view, the exports
and the benchmark all read the same ``StudentBook``, so a mark is computed one way only.

What an item is, and when it counts (the rules shown in docs/gradebook.md):

- a **discussion prompt** (code ``D<id>``) counts once it is closed; available = the rubric's
  maximum score (initial post + credited replies + quality points);
- a **peer exercise** (``X<id>``) has two parts: reviews completed (available = reviews per
  submission, counts once the review deadline has passed) and the peer score received
  (available = 100, counts once the exercise is released);
- a **tutorial** (``T<id>``, one occurrence) counts once it has ended; available = 1;
- a student with an approved extension on an item that still runs has that item left out of
  their mark (earned and available) until the extension ends, so nobody is marked down for
  time they were given.

Ledger rows name their item with ``item_type``/``item_id``; the canonical types are
``prompt``, ``exercise`` and ``occurrence`` (a few spellings are accepted, see
``ITEM_TYPE_ALIASES``). Adjustments use ``item_type = "adj:<component>"``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from bot.due.rules import reached
from bot.gradebook.marks import (
    COMPONENT_LABELS,
    LEDGER_SOURCE_COMPONENT,
    Component,
    ComponentTotals,
    MarkScheme,
    ParticipationMark,
    participation_mark,
)

__all__ = [
    "ADJUSTMENT_PREFIX",
    "ITEM_TYPE_ALIASES",
    "Cell",
    "Column",
    "Item",
    "ItemPart",
    "ItemType",
    "StudentBook",
    "StudentRecord",
    "adjustment_item_type",
    "build_student_book",
    "canonical_item_type",
    "columns_of",
    "format_points",
    "ledger_component",
    "ledger_key",
    "unlisted_items",
]

ZERO = Decimal(0)
ADJUSTMENT_PREFIX = "adj:"


class ItemType(enum.StrEnum):
    PROMPT = "prompt"
    EXERCISE = "exercise"
    OCCURRENCE = "occurrence"
    ADJUSTMENT = "adjustment"
    OTHER = "other"

    @property
    def prefix(self) -> str:
        return _PREFIX[self]


_PREFIX = {
    ItemType.PROMPT: "D",
    ItemType.EXERCISE: "X",
    ItemType.OCCURRENCE: "T",
    ItemType.ADJUSTMENT: "A",
    ItemType.OTHER: "O",
}

#: Spellings other features may use for the same kind of item in ledger rows.
ITEM_TYPE_ALIASES: Mapping[str, ItemType] = {
    "prompt": ItemType.PROMPT,
    "discussion_prompt": ItemType.PROMPT,
    "discussion": ItemType.PROMPT,
    "exercise": ItemType.EXERCISE,
    "peer_exercise": ItemType.EXERCISE,
    "peer": ItemType.EXERCISE,
    "occurrence": ItemType.OCCURRENCE,
    "event_occurrence": ItemType.OCCURRENCE,
    "tutorial": ItemType.OCCURRENCE,
}


def canonical_item_type(item_type: str) -> ItemType | None:
    return ITEM_TYPE_ALIASES.get(item_type.strip().lower())


def adjustment_item_type(component: Component) -> str:
    return f"{ADJUSTMENT_PREFIX}{component.value}"


def ledger_component(source: str, item_type: str) -> Component | None:
    """Which participation component a ledger row counts toward (None: none)."""
    if source == "adjustment":
        if item_type.startswith(ADJUSTMENT_PREFIX):
            try:
                return Component(item_type[len(ADJUSTMENT_PREFIX) :])
            except ValueError:
                return None
        return None
    return LEDGER_SOURCE_COMPONENT.get(source)


@lru_cache(maxsize=4096)
def format_points(value: Decimal) -> str:
    """Points as written in exports and replies: 12, 9.5, 0.333 (never scientific, no -0)."""
    if value == 0:
        return "0"
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class ItemPart:
    """One gradebook column of an item: a component, what it is worth, whether it counts yet."""

    component: Component
    available: Decimal
    counted: bool


@dataclass(frozen=True, slots=True)
class Item:
    item_type: ItemType
    item_id: int
    title: str
    due_at: datetime | None
    status: str  # scheduled | open | closed | released | held | upcoming | recorded
    parts: tuple[ItemPart, ...]
    released: bool = False
    #: The ``item_type`` used in ledger keys: the canonical type, or an unknown spelling as is.
    type_key: str = ""

    def __post_init__(self) -> None:
        if not self.type_key:
            object.__setattr__(self, "type_key", self.item_type.value)

    @property
    def key(self) -> tuple[str, int]:
        return (self.type_key, self.item_id)

    @property
    def code(self) -> str:
        if self.item_type is ItemType.ADJUSTMENT:
            return "ADJ"
        return f"{self.item_type.prefix}{self.item_id}"


_PART_NAMES = {
    Component.DISCUSSION: "discussion",
    Component.PEER_REVIEW: "reviews done",
    Component.PEER_SCORE: "peer score",
    Component.ATTENDANCE: "attendance",
}

#: (item type, item id, component value): plain strings hash fast, Enum members do not.
CellKey = tuple[str, int, str]
MILLI = 1000
_COMPONENTS: tuple[Component, ...] = tuple(Component)
_INDEX = {c: i for i, c in enumerate(_COMPONENTS)}


def to_milli(points: Decimal) -> int:
    """Points as exact thousandths (the ledger keeps 3 decimals)."""
    return int((points * MILLI).to_integral_value())


@lru_cache(maxsize=65536)
def from_milli(milli: int) -> Decimal:
    return (Decimal(milli) / MILLI).normalize() if milli else ZERO


@lru_cache(maxsize=65536)
def format_milli(milli: int) -> str:
    return format_points(from_milli(milli))


@dataclass(frozen=True, slots=True)
class Column:
    item: Item
    part: ItemPart

    @property
    def key(self) -> CellKey:
        return (self.item.type_key, self.item.item_id, self.part.component.value)

    @property
    def header(self) -> str:
        """E.g. ``D3 Week 1: bias and variance (discussion, /12)``."""
        title = " ".join(self.item.title.split())
        name = _PART_NAMES[self.part.component]
        if self.item.item_type is ItemType.ADJUSTMENT:
            return f"ADJ adjustments ({name})"
        return f"{self.item.code} {title} ({name}, /{format_points(self.part.available)})"


def columns_of(items: Sequence[Item]) -> list[Column]:
    """Every item part in a stable order: discussions, exercises, tutorials, adjustments."""
    ordered = sorted(items, key=_item_order)
    return [Column(item, part) for item in ordered for part in item.parts]


def _item_order(item: Item) -> tuple[int, float, int]:
    order = list(ItemType).index(item.item_type)
    when = item.due_at.timestamp() if item.due_at is not None else float("inf")
    return (order, when, item.item_id)


class Layout:
    """A module's items prepared once, so each student's book is a tight loop over ints."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = list(items)
        self.columns = columns_of(self.items)
        self.codes = {item.key: item.code for item in self.items}
        self.specs = [
            (
                col.key,
                col.item.key,
                col.part.component,
                to_milli(col.part.available),
                col.part.counted,
            )
            for col in self.columns
        ]
        #: cell key -> (item key, component index, available) of every part that counts now
        self.counted = {
            key: (item_key, _INDEX[component], available)
            for key, item_key, component, available, counted in self.specs
            if counted
        }
        self.available = [0] * len(_COMPONENTS)
        self.has_part = [False] * len(_COMPONENTS)
        for _key, _item, component, available, counted in self.specs:
            if counted:
                self.available[_INDEX[component]] += available
                self.has_part[_INDEX[component]] = True


@dataclass(frozen=True, slots=True)
class StudentRecord:
    """What was loaded about one student in one module."""

    person_id: int
    #: (item_type, item_id, component) -> ledger sum in thousandths (reversals included).
    earned: Mapping[CellKey, int]
    #: (item_type, item_id) -> the approved extension's new due time.
    extensions: Mapping[tuple[str, int], datetime] = field(default_factory=dict)
    #: items on which something of theirs was late.
    late: frozenset[tuple[str, int]] = frozenset()


@dataclass(frozen=True, slots=True)
class Cell:
    earned: Decimal
    available: Decimal
    counted: bool  # counts toward the mark now
    pending_extension: datetime | None = None

    @property
    def text(self) -> str:
        """Export cell: the points when the item counts; blank until then (unless earned)."""
        if self.counted or self.earned != 0:
            return format_points(self.earned)
        return ""


@dataclass(frozen=True, slots=True)
class StudentBook:
    person_id: int
    record: StudentRecord
    #: items whose extension still runs for this student: left out of the mark until it ends.
    pending: Mapping[tuple[str, int], datetime]
    totals: Mapping[Component, ComponentTotals]
    mark: ParticipationMark
    late: tuple[str, ...]  # item codes
    extensions: tuple[tuple[str, datetime], ...]  # (item code, new due time)

    def cell(self, column: Column) -> Cell:
        item_key = column.item.key
        pending = self.pending.get(item_key)
        counted = column.part.counted and pending is None
        earned = from_milli(self.record.earned.get(column.key, 0))
        return Cell(
            earned, column.part.available, counted, pending if column.part.counted else None
        )

    def row_texts(self, layout: Layout) -> list[str]:
        """The export cells of every column, in the layout's order (the hot path)."""
        earned = self.record.earned
        pending = self.pending
        out: list[str] = []
        append = out.append
        for key, item_key, _component, _available, counted in layout.specs:
            milli = earned.get(key, 0)
            if milli or (counted and item_key not in pending):
                append(format_milli(milli))
            else:
                append("")
        return out


def build_student_book(
    layout: Layout,
    record: StudentRecord,
    scheme: MarkScheme,
    now: datetime,
) -> StudentBook:
    """Component totals and the participation mark of one student (cells on demand)."""
    pending = (
        {k: when for k, when in record.extensions.items() if not reached(when, now)}
        if record.extensions
        else {}
    )
    earned_by = [0] * len(_COMPONENTS)
    available_by = list(layout.available)
    counted = layout.counted
    for key, milli in record.earned.items():
        spec = counted.get(key)
        if spec is not None:
            earned_by[spec[1]] += milli
    if pending:  # items whose extension still runs count neither earned nor available
        for key, (item_key, index, available) in counted.items():
            if item_key in pending:
                earned_by[index] -= record.earned.get(key, 0)
                available_by[index] -= available
    totals = {
        c: ComponentTotals(from_milli(earned_by[i]), from_milli(available_by[i]))
        for i, c in enumerate(_COMPONENTS)
        if layout.has_part[i] and (available_by[i] or earned_by[i])
    }
    codes = layout.codes
    late = tuple(sorted((codes.get(k, _fallback_code(k)) for k in record.late), key=_code_order))
    ext_list = tuple(
        sorted(
            ((codes.get(k, _fallback_code(k)), when) for k, when in record.extensions.items()),
            key=lambda pair: (_code_order(pair[0]), pair[1]),
        )
    )
    return StudentBook(
        person_id=record.person_id,
        record=record,
        pending=pending,
        totals=totals,
        mark=participation_mark(scheme, totals),
        late=late,
        extensions=ext_list,
    )


def _fallback_code(key: tuple[str, int]) -> str:
    return f"{key[0]}:{key[1]}"


def _code_order(code: str) -> tuple[str, int, str]:
    digits = "".join(ch for ch in code[1:] if ch.isdigit())
    return (code[:1], int(digits) if digits else 0, code)


def unlisted_items(known: Iterable[Item], ledger_keys: Iterable[CellKey]) -> list[Item]:
    """Items that only the ledger knows (e.g. a deleted prompt, an adjustment): they still count.

    They are shown so the exported totals always equal the ledger; nothing is available for
    them, so their points raise the component's earned total only.
    """
    seen = {item.key for item in known}
    extra: dict[tuple[str, int], set[Component]] = {}
    for item_type, item_id, component in ledger_keys:
        if (item_type, item_id) in seen:
            continue
        extra.setdefault((item_type, item_id), set()).add(Component(component))
    items: list[Item] = []
    for (item_type, item_id), components in sorted(extra.items()):
        if item_type == ItemType.ADJUSTMENT.value:
            kind = ItemType.ADJUSTMENT
            title = "Adjustments"
        else:
            kind = canonical_item_type(item_type) or ItemType.OTHER
            title = f"(not in the module's records: {item_type} {item_id})"
        parts = tuple(ItemPart(c, ZERO, True) for c in Component if c in components)
        items.append(Item(kind, item_id, title, None, "recorded", parts, type_key=item_type))
    return items


def ledger_key(source: str, item_type: str, item_id: int) -> CellKey | None:
    """The gradebook cell a ledger row adds to: canonical item type, id, component."""
    kind = _ledger_kind(str(source), item_type)
    if kind is None:
        return None
    return (kind[0], 0 if kind[2] else item_id, kind[1])


@lru_cache(maxsize=1024)
def _ledger_kind(source: str, item_type: str) -> tuple[str, str, bool] | None:
    component = ledger_component(source, item_type)
    if component is None:
        return None
    if source == "adjustment":
        return (ItemType.ADJUSTMENT.value, component.value, True)
    kind = canonical_item_type(item_type)
    return (kind.value if kind is not None else item_type, component.value, False)


def component_label(component: Component) -> str:
    return COMPONENT_LABELS[component]

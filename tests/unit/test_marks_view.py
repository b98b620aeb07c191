"""The student's ``/marks`` answer, built the fast way, equals the gradebook's own computation.

The view of a crowd is built from text shared per module (``view.ViewPlan``) and the student's
sums in thousandths (``my_marks``). Here, for many random books (items in every state,
extensions, late flags, explanations, adjustments with reasons, rows for items the module no
longer lists, amounts as each driver returns them), the answer must be character for character
the one spelled out below from the gradebook's public parts: exact Decimal sums per ledger row,
``StudentBook.cell`` for every cell and ``participation_mark`` for the breakdown.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.access.permissions import Caller
from bot.db.models import LedgerSource, Person, Role
from bot.gradebook import my_marks
from bot.gradebook.book import (
    Cell,
    Item,
    ItemPart,
    ItemType,
    Layout,
    StudentRecord,
    build_student_book,
    format_points,
    ledger_key,
    unlisted_items,
)
from bot.gradebook.loading import ItemRows, Release, SchemeInfo
from bot.gradebook.marks import (
    COMPONENT_LABELS,
    Component,
    ComponentTotals,
    MarkScheme,
    format_mark,
    participation_mark,
)
from bot.gradebook.snapshot import ModuleInfo, ModuleSnapshot
from bot.gradebook.view import SOURCE_LABELS
from bot.timeparse import discord_timestamp
from tests.storage.test_marks_credits import credits_reference

NOW = datetime(2026, 4, 20, 8, 0, tzinfo=UTC)
MODULE = ModuleInfo(id=7, cohort_id=1, code="MATH70097", title="Statistical learning")
PERSON_ID = 42
D, PR, PS, A = (
    Component.DISCUSSION,
    Component.PEER_REVIEW,
    Component.PEER_SCORE,
    Component.ATTENDANCE,
)

# --------------------------------------------------------------------------- the reference


def expected_answer(
    items: Sequence[Item],
    scheme: MarkScheme,
    released_at: datetime | None,
    rows: Sequence[tuple[Any, ...]],
    extensions: dict[tuple[str, int], datetime],
    late: set[tuple[str, int]],
    why: dict[tuple[str, int], str],
) -> str:
    """The answer as the gradebook defines it, spelled out one cell and one row at a time."""
    earned: dict[tuple[str, int, str], Decimal] = {}
    by_source: dict[tuple[str, int], dict[str, Decimal]] = {}
    notes: dict[tuple[str, int], list[str]] = {}
    for source, item_type, item_id, raw, note in rows:
        key = ledger_key(source, item_type, item_id)
        if key is None:
            continue
        points = Decimal(str(raw))  # the ledger keeps 3 decimals: exact as written
        earned[key] = earned.get(key, Decimal(0)) + points
        mine = by_source.setdefault((key[0], key[1]), {})
        mine[source] = mine.get(source, Decimal(0)) + points
        if source == "adjustment" and note:
            notes.setdefault((key[0], key[1]), []).append(f"{format_points(points)}: {note}")
    items = [*items, *unlisted_items(items, earned)]
    layout = Layout(items)
    record = StudentRecord(
        PERSON_ID,
        {k: int(v * 1000) for k, v in earned.items()},
        extensions,
        frozenset(late),
    )
    book = build_student_book(layout, record, scheme, NOW)
    # The mark from exact sums over the cells that count (extensions still running left out).
    totals: dict[Component, list[Decimal]] = {}
    for column in layout.columns:
        if not column.part.counted or column.item.key in book.pending:
            continue
        got = totals.setdefault(column.part.component, [Decimal(0), Decimal(0)])
        got[0] += earned.get(column.key, Decimal(0))
        got[1] += column.part.available
    mark = participation_mark(
        scheme,
        {
            c: ComponentTotals(e.normalize(), a.normalize())
            for c, (e, a) in totals.items()
            if e or a
        },
    )
    assert mark == book.mark, "the book's mark is the mark of its exact sums"

    def earned_of(item: Item, component: Component) -> Decimal:
        return earned.get((item.type_key, item.item_id, component.value), Decimal(0)).normalize()

    def cell(item: Item, component: Component) -> Cell:
        """What a section shows of ``component``: an item of one part shows that part."""
        part = (
            item.parts[0]
            if len(item.parts) == 1
            else next(p for p in item.parts if p.component is component)
        )
        return Cell(
            earned_of(item, component),
            part.available,
            part.counted and item.key not in book.pending,
            book.pending.get(item.key) if part.counted else None,
        )

    lines = [
        f"{'Released' if released_at else 'Provisional'} marks; only you see this.",
        f"Weights: {scheme.render()}. Each part earns earned/available of its weight; "
        "parts with nothing available yet share their weight among the others.",
    ]
    shown = [i for i in items if i.item_type is ItemType.PROMPT and i.status != "scheduled"]
    if shown:
        lines += ["", "__Discussions__"]
    for item in shown:
        c = cell(item, D)
        head = f"• {item.code} {item.title}"
        if item.status == "open":
            due = discord_timestamp(item.due_at, "R") if item.due_at else ""
            lines.append(f"{head}: open, closes {due}")
            continue
        state = "released" if item.released else "closed, provisional"
        text = f"{head} ({state}): **{format_points(c.earned)}/{format_points(c.available)}**"
        said = " · ".join(
            f"{SOURCE_LABELS.get(s, s)} {format_points(p.normalize())}"
            for s, p in sorted(by_source.get(item.key, {}).items())
            if p != 0
        )
        if said:
            text += f" ({said})"
        if c.pending_extension is not None:
            text += (
                f"; extension until {discord_timestamp(c.pending_extension, 'f')}: not counted yet"
            )
        lines.append(text)
        if why.get(item.key):
            lines.append(f"  why: {why[item.key]}")
    shown = [i for i in items if i.item_type is ItemType.EXERCISE and i.status != "scheduled"]
    if shown:
        lines += ["", "__Peer assessment__"]
    for item in shown:
        review, score = cell(item, PR), cell(item, PS)
        text = (
            f"• {item.code} {item.title}: reviews done "
            f"{format_points(review.earned)}/{format_points(review.available)}"
        )
        if not review.counted and review.pending_extension is None:
            due = discord_timestamp(item.due_at, "R") if item.due_at else "later"
            text += f" (reviews due {due})"
        if score.counted:
            text += f"; peer score {format_points(score.earned)}/100 (released)"
        elif score.pending_extension is not None:
            text += f"; extension until {discord_timestamp(score.pending_extension, 'f')}: "
            text += "not counted yet"
        else:
            text += "; peer score not released yet"
        lines.append(text)
    held = [i for i in items if i.item_type is ItemType.OCCURRENCE and i.parts[0].counted]
    if held:
        missed = [i for i in held if not earned_of(i, A) > 0]
        lines += ["", "__Tutorials__"]
        text = f"• attended {len(held) - len(missed)} of {len(held)} held"
        if missed:
            listed = ", ".join(
                f"{i.code} {discord_timestamp(i.due_at, 'd')}" if i.due_at else i.code
                for i in missed[:10]
            )
            text += (
                f" (missed {listed}{f' and {len(missed) - 10} more' if len(missed) > 10 else ''})"
            )
        lines.append(text)
    for item in items:
        if item.item_type not in (ItemType.ADJUSTMENT, ItemType.OTHER):
            continue
        for part in item.parts:
            points = earned_of(item, part.component)
            if points != 0:
                what = "Adjustment" if item.item_type is ItemType.ADJUSTMENT else item.title
                sign = "+" if points > 0 else ""
                label = COMPONENT_LABELS[part.component]
                lines.append(f"• {what} ({label}): {sign}{format_points(points)}")
        lines += [f"  why: {n}" for n in notes.get(item.key, ())]
    if book.late:
        lines.append(f"Late: {', '.join(book.late)}")
    lines += ["", "__How the mark adds up__"]
    if mark.mark is not None:
        lines += [line.text for line in mark.lines]
        state = (
            f"released {discord_timestamp(released_at, 'D')}; final once the exam board confirms"
            if released_at
            else "provisional"
        )
        lines.append(f"**Participation mark: {format_mark(mark.mark)}/100 ({state})**")
    else:
        lines.append("Participation mark: none yet (nothing has been available to earn).")
    return "\n".join(lines)


# --------------------------------------------------------------------------- random books

SOURCES = {
    ItemType.PROMPT: (
        ("discussion_post", "discussion_reply", "quality_points"),
        ("prompt", "discussion_prompt", "discussion"),
    ),
    ItemType.EXERCISE: (
        ("peer_review_completed", "peer_score_received"),
        ("exercise", "peer_exercise", "peer"),
    ),
    ItemType.OCCURRENCE: (("tutorial_attendance",), ("occurrence", "tutorial", "event_occurrence")),
}
#: Amounts with up to 3 decimals, where rounding a percentage or a float is easy to get wrong.
AMOUNTS = ("4", "2", "2.5", "1", "0.333", "0.001", "71.5", "-2", "-0.5", "12.345", "0")
#: Amounts a float holds inexactly (2.3 * 1000 is 2299.9999...): exact only if rounded.
AMOUNTS_INEXACT = ("2.3", "1.001", "8.2")


def random_items(rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for pid in range(1, rng.randint(0, 6) + 1):
        status = rng.choice(("scheduled", "open", "closed", "released"))
        available = Decimal(rng.choice(("12", "10.5", "0.333", "7", "0")))
        items.append(
            Item(
                ItemType.PROMPT,
                pid,
                f"Week {pid}: {rng.choice(('bias', 'variance', 'kernels'))}",
                rng.choice((None, NOW - timedelta(days=pid), NOW + timedelta(hours=pid))),
                status,
                (ItemPart(D, available, status in ("closed", "released")),),
                released=status == "released",
            )
        )
    for eid in range(1, rng.randint(0, 4) + 1):
        items.append(
            Item(
                ItemType.EXERCISE,
                eid,
                f"Exercise {eid}",
                rng.choice((None, NOW - timedelta(days=eid), NOW + timedelta(days=eid))),
                rng.choice(("scheduled", "open", "closed", "released")),
                (
                    ItemPart(PR, Decimal(rng.choice(("3", "2", "1"))), rng.random() < 0.6),
                    ItemPart(PS, Decimal(100), rng.random() < 0.5),
                ),
            )
        )
    for oid in range(1, rng.randint(0, 15) + 1):
        counted = rng.random() < 0.7
        items.append(
            Item(
                ItemType.OCCURRENCE,
                oid,
                "Tutorial",
                rng.choice((None, NOW - timedelta(days=2 * oid, hours=oid))),
                "held" if counted else rng.choice(("upcoming", "scheduled")),
                (ItemPart(A, Decimal(1), counted),),
            )
        )
    rng.shuffle(items)
    return items


def random_rows(rng: random.Random, items: Sequence[Item], driver: str) -> list[tuple[Any, ...]]:
    """A student's ledger rows in id order, amounts typed as ``driver`` returns them."""

    def amount() -> Any:
        text = rng.choice(AMOUNTS + AMOUNTS_INEXACT)
        value = Decimal(text)
        if driver == "postgresql":
            return value.quantize(Decimal("0.001"))
        return int(value) if value == value.to_integral_value() else float(text)

    rows: list[tuple[Any, ...]] = []
    for item in items:
        sources, spellings = SOURCES[item.item_type]
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            rows.append((rng.choice(sources), rng.choice(spellings), item.item_id, amount(), None))
    for _ in range(rng.choice((0, 0, 0, 1, 3))):  # adjustments, with and without a reason
        component = rng.choice(list(Component))
        note = rng.choice((None, "", "marked late by mistake", "extra credit"))
        rows.append((LedgerSource.ADJUSTMENT.value, f"adj:{component.value}", 0, amount(), note))
    if rng.random() < 0.2:  # a prompt deleted since, a kind of item the module does not know
        rows.append(("discussion_post", "prompt", 999, amount(), None))
        rows.append(("quality_points", "quiz", 5, amount(), None))
    if rng.random() < 0.2:  # rows no component takes: left out
        rows.append(("mystery", "prompt", 1, amount(), None))
        rows.append(("adjustment", "adj:nothing", 0, amount(), "no such component"))
    rng.shuffle(rows)
    return rows


def random_scheme(rng: random.Random) -> MarkScheme:
    while True:
        weights = {
            c.value: Decimal(rng.randint(0, 1_000_000)) / 10_000 if rng.random() < 0.8 else 0
            for c in Component
        }
        if any(weights.values()):
            return MarkScheme.from_dict(weights)


@pytest.mark.parametrize("driver", ["sqlite", "postgresql"])
def test_the_crowds_answer_is_the_gradebooks_answer_for_random_books(driver: str) -> None:
    for seed in range(150):
        rng = random.Random(seed)
        items = random_items(rng)
        scheme = random_scheme(rng)
        released_at = rng.choice((None, NOW - timedelta(days=1, minutes=7)))
        snap = ModuleSnapshot(
            module=MODULE,
            zone="UTC",
            scheme=SchemeInfo(scheme, None, True),
            release=Release(released_at, None) if released_at else None,
            rows=ItemRows((), (), (), frozenset()),
            extensions={},
            late={},
            explanations={},
            taken_at=0.0,
            taken_now=NOW,
            _layout=(None, None, items, Layout(items)),
        )
        # Several students share the module's snapshot (and its text), as in a crowd.
        for student in range(4):
            person_id = PERSON_ID + student
            keys = [item.key for item in items]
            extensions = {
                key: NOW + timedelta(days=rng.choice((-2, 3)), minutes=student)
                for key in rng.sample(keys, min(len(keys), rng.choice((0, 0, 1, 2))))
            }
            late = set(rng.sample(keys, min(len(keys), rng.choice((0, 0, 2)))))
            if rng.random() < 0.1:
                late.add(("prompt", 999))
            why = {
                item.key: rng.choice(("two replies credited", "post under 150 words"))
                for item in items
                if item.item_type is ItemType.PROMPT and rng.random() < 0.3
            }
            snap.extensions[person_id] = extensions
            snap.late[person_id] = late
            snap.explanations[person_id] = why
            rows = random_rows(rng, items, driver)
            caller = Caller(
                person=Person(id=person_id, display_name=f"Student {student}"),
                cohort_id=MODULE.cohort_id,
                roles={MODULE.id: Role.STUDENT},
            )
            expected = expected_answer(items, scheme, released_at, rows, extensions, late, why)
            assert answer(snap, caller, rows) == expected, f"seed {seed}, student {student}"


def answer(snap: ModuleSnapshot, caller: Caller, rows: list[tuple[Any, ...]]) -> str:
    """The crowd's answer (``marks_from``, as ``bot.gradebook.crowd`` calls it), from the
    student's credits as the database sums them (``credits_reference``: that the database's
    sums are these is tests/storage/test_marks_credits.py)."""
    person_id = caller.person.id
    credits = credits_reference(person_id, [(row_id, *row) for row_id, row in enumerate(rows, 1)])
    view = my_marks.marks_from(
        caller,
        MODULE.code.lower(),
        NOW,
        {MODULE.code: MODULE},
        lambda _module_id: snap,
        lambda module_id, person: credits if (module_id, person) == (MODULE.id, person_id) else [],
    )
    assert view is not None
    return view.body

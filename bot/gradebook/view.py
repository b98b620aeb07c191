"""The student's private view of their participation, as text (pure).

Per item: what counted and why; then the mark's breakdown, line by line, and whether it is
provisional or released. Times are Discord timestamp markup (every reader sees local time);
other chat adapters can rewrite that markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bot.gradebook.book import (
    ZERO,
    Cell,
    Column,
    Item,
    ItemType,
    StudentBook,
    format_points,
    from_milli,
)
from bot.gradebook.marks import COMPONENT_LABELS, Component, MarkScheme, format_mark
from bot.timeparse import discord_timestamp

SOURCE_LABELS = {
    "discussion_post": "initial post",
    "discussion_reply": "replies",
    "quality_points": "quality",
    "peer_review_completed": "reviews",
    "peer_score_received": "peer score",
    "tutorial_attendance": "attendance",
    "adjustment": "adjustment",
}


@dataclass(frozen=True)
class ItemDetail:
    """What one student's ledger rows and the features' own records say about an item."""

    by_source: Mapping[str, Decimal] = field(default_factory=dict)
    why: str | None = None  # e.g. the discussion score's explanation
    notes: tuple[str, ...] = ()  # adjustment reasons


@dataclass(frozen=True)
class StudentView:
    module_code: str
    module_title: str
    student_name: str
    scheme: MarkScheme
    items: Sequence[Item]
    book: StudentBook
    details: Mapping[tuple[str, int], ItemDetail]
    released_at: datetime | None
    module_mark: Decimal | None = None

    @property
    def mark_line(self) -> str:
        mark = self.book.mark.mark
        if mark is None:
            return "Participation mark: none yet (nothing has been available to earn)."
        if self.released_at is None:
            return f"**Participation mark: {format_mark(mark)}/100 (provisional)**"
        return (
            f"**Participation mark: {format_mark(mark)}/100 (released "
            f"{discord_timestamp(self.released_at, 'D')}; final once the exam board confirms)**"
        )

    @property
    def title(self) -> str:
        return f"{self.module_code} {self.module_title}: your participation"[:256]

    @property
    def body(self) -> str:
        return render_student_view(self)

    @property
    def text(self) -> str:
        return f"**{self.title}**\n{self.body}"


_NO_DETAIL = ItemDetail()
# Enum member and .value lookups are slow in a loop run for every student at the end of term.
_VALUES = {c: c.value for c in Component}
_PROMPT, _EXERCISE, _OCCURRENCE = ItemType.PROMPT, ItemType.EXERCISE, ItemType.OCCURRENCE
_ADJUSTMENT, _OTHER = ItemType.ADJUSTMENT, ItemType.OTHER
_DISCUSSION, _PEER_REVIEW, _PEER_SCORE = (
    Component.DISCUSSION,
    Component.PEER_REVIEW,
    Component.PEER_SCORE,
)
_ATTENDANCE = Component.ATTENDANCE


def _section(lines: list[str], title: str, items: Sequence[Item]) -> list[Item]:
    """The items a student sees (not the scheduled ones), after a heading if there are any."""
    shown = [i for i in items if i.status != "scheduled"]
    if shown:
        lines.append("")
        lines.append(title)
    return shown


def _cell(book: StudentBook, item: Item, component: Component) -> Cell:
    """One cell, read straight from the student's record (the view's hot path)."""
    part = (
        item.parts[0]
        if len(item.parts) == 1
        else next(p for p in item.parts if p.component is component)
    )
    pending = book.pending.get(item.key) if book.pending else None
    key = (item.type_key, item.item_id, _VALUES[component])
    earned = from_milli(book.record.earned.get(key, 0))
    return Cell(
        earned, part.available, part.counted and pending is None, pending if part.counted else None
    )


def _ts(moment: datetime, style: str = "f") -> str:
    return discord_timestamp(moment, style)


def _sources(detail: ItemDetail, component: Component | None = None) -> str:
    parts = [
        f"{SOURCE_LABELS.get(source, source)} {format_points(points)}"
        for source, points in sorted(detail.by_source.items())
        if points != 0 and (component is None or source != "adjustment")
    ]
    return " · ".join(parts)


def render_student_view(view: StudentView) -> str:
    lines = [
        f"{'Released' if view.released_at else 'Provisional'} marks; only you see this.",
        f"Weights: {view.scheme.render()}. Each part earns earned/available of its weight; "
        "parts with nothing available yet share their weight among the others.",
    ]
    book = view.book
    discussions = [i for i in view.items if i.item_type is _PROMPT]
    exercises = [i for i in view.items if i.item_type is _EXERCISE]
    tutorials = [i for i in view.items if i.item_type is _OCCURRENCE]
    others = [i for i in view.items if i.item_type is _ADJUSTMENT or i.item_type is _OTHER]

    for item in _section(lines, "__Discussions__", discussions):
        cell = _cell(book, item, _DISCUSSION)
        detail = view.details.get(item.key, _NO_DETAIL)
        head = f"• {item.code} {item.title}"
        if item.status == "open":
            lines.append(f"{head}: open, closes {_ts(item.due_at, 'R') if item.due_at else ''}")
            continue
        state = "released" if item.released else "closed, provisional"
        text = f"{head} ({state}): **{format_points(cell.earned)}/{format_points(cell.available)}**"
        sources = _sources(detail)
        if sources:
            text += f" ({sources})"
        if cell.pending_extension is not None:
            text += f"; extension until {_ts(cell.pending_extension)}: not counted yet"
        lines.append(text)
        if detail.why:
            lines.append(f"  why: {detail.why}")

    for item in _section(lines, "__Peer assessment__", exercises):
        review = _cell(book, item, _PEER_REVIEW)
        score = _cell(book, item, _PEER_SCORE)
        text = (
            f"• {item.code} {item.title}: reviews done "
            f"{format_points(review.earned)}/{format_points(review.available)}"
        )
        if not review.counted and review.pending_extension is None:
            text += f" (reviews due {_ts(item.due_at, 'R') if item.due_at else 'later'})"
        if score.counted:
            text += f"; peer score {format_points(score.earned)}/100 (released)"
        elif score.pending_extension is not None:
            text += f"; extension until {_ts(score.pending_extension)}: not counted yet"
        else:
            text += "; peer score not released yet"
        lines.append(text)

    held = [i for i in tutorials if i.parts[0].counted]
    if held:
        attended = {id(i) for i in held if _cell(book, i, _ATTENDANCE).earned > 0}
        missed = [i for i in held if id(i) not in attended]
        lines.append("")
        lines.append("__Tutorials__")
        text = f"• attended {len(attended)} of {len(held)} held"
        if missed:
            listed = ", ".join(
                f"{i.code} {_ts(i.due_at, 'd')}" if i.due_at else i.code for i in missed[:10]
            )
            more = f" and {len(missed) - 10} more" if len(missed) > 10 else ""
            text += f" (missed {listed}{more})"
        lines.append(text)

    for item in others:
        detail = view.details.get(item.key, _NO_DETAIL)
        for part in item.parts:
            cell = book.cell(Column(item, part))
            if cell.earned == ZERO:
                continue
            label = COMPONENT_LABELS[part.component]
            sign = "+" if cell.earned > 0 else ""
            what = "Adjustment" if item.item_type is _ADJUSTMENT else item.title
            lines.append(f"• {what} ({label}): {sign}{format_points(cell.earned)}")
        for note in detail.notes:
            lines.append(f"  why: {note}")

    if view.book.late:
        lines.append(f"Late: {', '.join(view.book.late)}")
    lines.append("")
    lines.append("__How the mark adds up__")
    if view.book.mark.mark is not None:
        lines.extend(line.text for line in view.book.mark.lines)
    lines.append(view.mark_line)
    if view.module_mark is not None:
        lines.append(f"Module mark preview: {format_mark(view.module_mark)} (provisional)")
    return "\n".join(lines)


@dataclass(frozen=True)
class ModuleSummary:
    code: str
    title: str
    mark: Decimal | None
    released: bool


SUMMARY_TITLE = "Your participation marks"


def render_summaries(summaries: Sequence[ModuleSummary]) -> str:
    lines = ["Only you see this."]
    for s in summaries:
        mark = "none yet" if s.mark is None else f"{format_mark(s.mark)}/100"
        state = "released" if s.released else "provisional"
        lines.append(f"• {s.code} {s.title}: {mark} ({state})")
    lines.append("Use `/marks module:CODE` to see what counted and why.")
    return "\n".join(lines)

"""The student's private view of their participation, as text (pure).

Per item: what counted and why; then the mark's breakdown, line by line, and whether it is
provisional or released. Times are Discord timestamp markup (every reader sees local time);
other chat adapters can rewrite that markup.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from bot.gradebook.book import (
    ZERO,
    CellKey,
    Column,
    Item,
    ItemPart,
    ItemType,
    StudentBook,
    format_milli,
    format_points,
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
class StudentView:
    """One student's view of one module: the module's shared ``plan`` and their own numbers."""

    module_code: str
    module_title: str
    student_name: str
    scheme: MarkScheme
    items: Sequence[Item]
    book: StudentBook
    released_at: datetime | None
    plan: ViewPlan
    #: item key -> ledger source -> the student's points from it, in thousandths.
    sources: Mapping[tuple[str, int], Mapping[str, int]] = field(default_factory=dict)
    #: item key -> the discussion score's explanation.
    why: Mapping[tuple[str, int], str] = field(default_factory=dict)
    #: item key -> adjustment reasons ("+2: marked late by mistake").
    notes: Mapping[tuple[str, int], Sequence[str]] = field(default_factory=dict)
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


def _part(item: Item, component: Component) -> ItemPart:
    """The part of ``item`` a section shows for ``component`` (an item of one part: that part)."""
    if len(item.parts) == 1:
        return item.parts[0]
    return next(p for p in item.parts if p.component is component)


def _cell_key(item: Item, component: Component) -> CellKey:
    return (item.type_key, item.item_id, _VALUES[component])


def _ts(moment: datetime, style: str = "f") -> str:
    return discord_timestamp(moment, style)


#: A shown discussion: item key, cell key, whether its part counts, the whole line if it is
#: still open (else None), and the line's text before and after the student's points.
_Discussion = tuple[tuple[str, int], CellKey, bool, str | None, str, str]
#: A peer exercise: item key, the reviews' cell key and whether that part counts, the score's
#: cell key and whether that part counts, the line's start, "/available", "(reviews due ...)".
_Exercise = tuple[tuple[str, int], CellKey, bool, CellKey, bool, str, str, str]


class ViewPlan:
    """What every student's view of a module shares at one moment, worked out once.

    A thousand students asking at once see the same items, headings, weights sentence and
    timestamps; only their own numbers differ. So the text around those numbers is built here
    once per module and moment (``snapshot.ModuleSnapshot.plan_at``), and each student's view
    only formats their points into it (the view's hot path, docs/benchmarks.md).
    """

    def __init__(self, items: Sequence[Item], scheme: MarkScheme, released: bool) -> None:
        self.released = released
        self.scheme = scheme
        self.header = (
            f"{'Released' if released else 'Provisional'} marks; only you see this.",
            f"Weights: {scheme.render()}. Each part earns earned/available of its weight; "
            "parts with nothing available yet share their weight among the others.",
        )
        self.discussions: list[_Discussion] = []
        self.exercises: list[_Exercise] = []
        #: Tutorials held: the attendance cell key and how a missed one is listed.
        self.held: list[tuple[CellKey, str]] = []
        #: Adjustments and items only the ledger knows (rare: shown from the book's cells).
        self.others: list[Item] = []
        #: Every item's key: a student's rows for anything else are listed after them.
        self.item_keys = frozenset(item.key for item in items)
        self._add(items)

    def with_items(self, extra: Sequence[Item]) -> ViewPlan:
        """This plan with ``extra`` items after the others (a student's unlisted items)."""
        plan = copy.copy(self)
        plan.discussions = list(self.discussions)
        plan.exercises = list(self.exercises)
        plan.held = list(self.held)
        plan.others = list(self.others)
        plan.item_keys = self.item_keys | {item.key for item in extra}
        plan._add(extra)
        return plan

    def _add(self, items: Sequence[Item]) -> None:
        for item in items:
            kind = item.item_type
            if kind is _PROMPT and item.status != "scheduled":
                self.discussions.append(self._discussion(item))
            elif kind is _EXERCISE and item.status != "scheduled":
                self.exercises.append(self._exercise(item))
            elif kind is _OCCURRENCE and item.parts[0].counted:
                code = item.code
                missed = f"{code} {_ts(item.due_at, 'd')}" if item.due_at else code
                self.held.append((_cell_key(item, _ATTENDANCE), missed))
            elif kind is _ADJUSTMENT or kind is _OTHER:
                self.others.append(item)

    @staticmethod
    def _discussion(item: Item) -> _Discussion:
        part = _part(item, _DISCUSSION)
        head = f"• {item.code} {item.title}"
        key = _cell_key(item, _DISCUSSION)
        if item.status == "open":
            line = f"{head}: open, closes {_ts(item.due_at, 'R') if item.due_at else ''}"
            return (item.key, key, part.counted, line, "", "")
        state = "released" if item.released else "closed, provisional"
        return (
            item.key,
            key,
            part.counted,
            None,
            f"{head} ({state}): **",
            f"/{format_points(part.available)}**",
        )

    @staticmethod
    def _exercise(item: Item) -> _Exercise:
        review = _part(item, _PEER_REVIEW)
        score = _part(item, _PEER_SCORE)
        return (
            item.key,
            _cell_key(item, _PEER_REVIEW),
            review.counted,
            _cell_key(item, _PEER_SCORE),
            score.counted,
            f"• {item.code} {item.title}: reviews done ",
            f"/{format_points(review.available)}",
            f" (reviews due {_ts(item.due_at, 'R') if item.due_at else 'later'})",
        )


@lru_cache(maxsize=4096)
def _sources_text(sources: tuple[tuple[str, int], ...]) -> str:
    """What an item's points came from: "initial post 4 · replies 2" (sorted by source)."""
    return " · ".join(
        f"{SOURCE_LABELS.get(source, source)} {format_milli(milli)}"
        for source, milli in sorted(sources)
        if milli
    )


def render_student_view(view: StudentView) -> str:
    plan = view.plan
    book = view.book
    earned = book.record.earned
    pending = book.pending
    sources = view.sources
    why = view.why
    lines = list(plan.header)
    append = lines.append

    if plan.discussions:
        append("")
        append("__Discussions__")
    for item_key, key, counted, fixed, head, tail in plan.discussions:
        if fixed is not None:
            append(fixed)
            continue
        text = f"{head}{format_milli(earned.get(key, 0))}{tail}"
        mine = sources.get(item_key)
        if mine:
            said = _sources_text(tuple(mine.items()))
            if said:
                text += f" ({said})"
        extension = pending.get(item_key) if pending and counted else None
        if extension is not None:
            text += f"; extension until {_ts(extension)}: not counted yet"
        append(text)
        reason = why.get(item_key)
        if reason:
            append(f"  why: {reason}")

    if plan.exercises:
        append("")
        append("__Peer assessment__")
    for item_key, review_key, review_part, score_key, score_part, head, tail, due in plan.exercises:
        extension = pending.get(item_key) if pending else None
        text = f"{head}{format_milli(earned.get(review_key, 0))}{tail}"
        if not review_part:  # not due yet (an extension only ever holds back a counted part)
            text += due
        if score_part and extension is None:
            text += f"; peer score {format_milli(earned.get(score_key, 0))}/100 (released)"
        elif score_part and extension is not None:
            text += f"; extension until {_ts(extension)}: not counted yet"
        else:
            text += "; peer score not released yet"
        append(text)

    if plan.held:
        missed = [listed for key, listed in plan.held if earned.get(key, 0) <= 0]
        append("")
        append("__Tutorials__")
        text = f"• attended {len(plan.held) - len(missed)} of {len(plan.held)} held"
        if missed:
            more = f" and {len(missed) - 10} more" if len(missed) > 10 else ""
            text += f" (missed {', '.join(missed[:10])}{more})"
        append(text)

    for item in plan.others:
        for part in item.parts:
            cell = book.cell(Column(item, part))
            if cell.earned == ZERO:
                continue
            label = COMPONENT_LABELS[part.component]
            sign = "+" if cell.earned > 0 else ""
            what = "Adjustment" if item.item_type is _ADJUSTMENT else item.title
            append(f"• {what} ({label}): {sign}{format_points(cell.earned)}")
        for note in view.notes.get(item.key, ()):
            append(f"  why: {note}")

    if book.late:
        append(f"Late: {', '.join(book.late)}")
    append("")
    append("__How the mark adds up__")
    if book.mark.mark is not None:
        lines.extend(line.text for line in book.mark.lines)
    append(view.mark_line)
    if view.module_mark is not None:
        append(f"Module mark preview: {format_mark(view.module_mark)} (provisional)")
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

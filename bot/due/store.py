"""Due times from the database: items from their rows, grants in one query, granting.

Everything here reads or writes ``extensions`` for the rule in ``bot.due.rules``; the rule itself
is never restated. Batch reads (a module's gradebook, a prompt's posts) are one query for any
number of items and people; the same statement serves the synchronous child-process writer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.db.models import (
    CalendarEvent,
    DiscussionPrompt,
    EventOccurrence,
    Extension,
    ExtensionStatus,
    PeerExercise,
    ReviewAssignment,
)
from bot.due.eligibility import clean_reason
from bot.due.rules import (
    Due,
    Grant,
    Item,
    ItemKind,
    applying,
    due,
    extends,
    reviewer_due_at,
    superseded,
)
from bot.errors import UserError

#: The column of ``extensions`` naming each kind of extendable item.
COLUMN: Mapping[ItemKind, InstrumentedAttribute[int | None]] = {
    ItemKind.PROMPT: Extension.prompt_id,
    ItemKind.SUBMISSION: Extension.exercise_id,
    ItemKind.DEADLINE: Extension.event_id,
}

# --------------------------------------------------------------------------- items


def prompt_item(prompt: DiscussionPrompt) -> Item:
    return Item(ItemKind.PROMPT, prompt.id, prompt.closes_at)


def submission_item(exercise: PeerExercise) -> Item:
    return Item(ItemKind.SUBMISSION, exercise.id, exercise.submission_due_at)


def review_item(exercise: PeerExercise, assignment: ReviewAssignment) -> Item:
    """A review's own due time: stored when it was given out, else computed by the rule."""
    due_at = assignment.due_at
    if due_at is None:
        due_at = reviewer_due_at(exercise.review_due_at, assignment.origin, assignment.assigned_at)
    return Item(ItemKind.REVIEW, assignment.id, due_at)


def deadline_item(event: CalendarEvent) -> Item:
    return Item(ItemKind.DEADLINE, event.id, event.starts_at)


def tutorial_item(occurrence: EventOccurrence) -> Item:
    return Item(ItemKind.TUTORIAL, occurrence.id, occurrence.ends_at)


# --------------------------------------------------------------------------- reading grants


@dataclass(frozen=True)
class Grants:
    """Approved grants by item and person, loaded at once, with each item's base due time.

    ``due`` answers for an item the caller holds; ``until`` and ``extensions`` answer from the
    base time read with the grants (for callers that only carry ids).
    """

    by_key: Mapping[tuple[ItemKind, int, int], tuple[Grant, ...]] = field(default_factory=dict)
    bases: Mapping[tuple[ItemKind, int], datetime] = field(default_factory=dict)

    def of(self, kind: ItemKind, item_id: int, person_id: int) -> tuple[Grant, ...]:
        return self.by_key.get((kind, item_id, person_id), ())

    def due(self, item: Item, person_id: int) -> Due:
        return due(item, person_id, self.of(item.kind, item.id, person_id))

    def until(self, kind: ItemKind, item_id: int, person_id: int) -> datetime | None:
        """The end of the extension that applies to this person on this item, if any."""
        base = self.bases.get((kind, item_id))
        if base is None:
            return None
        grant = applying(base, self.of(kind, item_id, person_id))
        return grant.new_due_at if grant is not None else None

    def extensions(self, kind: ItemKind | None = None) -> dict[tuple[ItemKind, int, int], datetime]:
        """Every extension that applies (of one kind of item, or all): key -> its end."""
        found: dict[tuple[ItemKind, int, int], datetime] = {}
        for key in self.by_key:
            if kind is None or key[0] is kind:
                until = self.until(*key)
                if until is not None:
                    found[key] = until
        return found

    def extended(self, item: Item) -> dict[int, Due]:
        """Everyone with an extension that applies on this item: person -> their answer."""
        found: dict[int, Due] = {}
        for (kind, item_id, person_id), grants in self.by_key.items():
            if kind is item.kind and item_id == item.id:
                answer = due(item, person_id, grants)
                if answer.extension is not None:
                    found[person_id] = answer
        return found

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> Grants:
        """Rows of ``grants_query``: (id, person, prompt, exercise, event, new due, decided,
        the item's base due time)."""
        found: dict[tuple[ItemKind, int, int], list[Grant]] = defaultdict(list)
        bases: dict[tuple[ItemKind, int], datetime] = {}
        for gid, person_id, prompt_id, exercise_id, event_id, new_due, decided, base in rows:
            if prompt_id is not None:
                kind, item_id = ItemKind.PROMPT, int(prompt_id)
            elif exercise_id is not None:
                kind, item_id = ItemKind.SUBMISSION, int(exercise_id)
            else:
                kind, item_id = ItemKind.DEADLINE, int(event_id)
            found[(kind, item_id, int(person_id))].append(
                Grant(int(gid), int(person_id), new_due, decided)
            )
            bases[(kind, item_id)] = base
        return cls({k: tuple(v) for k, v in found.items()}, bases)


def grants_query(
    items: Mapping[ItemKind, Collection[int]], person_ids: Collection[int] | None = None
) -> Select[Any] | None:
    """One SELECT of the approved grants on these items (of these people), each with its
    item's base due time; None when no item can have grants."""
    wanted = [
        COLUMN[kind].in_(sorted(ids)) for kind, ids in items.items() if ids and kind.extendable
    ]
    if not wanted:
        return None
    stmt = (
        select(
            Extension.id,
            Extension.person_id,
            Extension.prompt_id,
            Extension.exercise_id,
            Extension.event_id,
            Extension.new_due_at,
            func.coalesce(Extension.decided_at, Extension.requested_at),
            func.coalesce(
                DiscussionPrompt.closes_at,
                PeerExercise.submission_due_at,
                CalendarEvent.starts_at,
            ),
        )
        .outerjoin(DiscussionPrompt, DiscussionPrompt.id == Extension.prompt_id)
        .outerjoin(PeerExercise, PeerExercise.id == Extension.exercise_id)
        .outerjoin(CalendarEvent, CalendarEvent.id == Extension.event_id)
        .where(Extension.status == ExtensionStatus.APPROVED, or_(*wanted))
    )
    if person_ids is not None:
        stmt = stmt.where(Extension.person_id.in_(sorted(set(person_ids))))
    return stmt


Items = Iterable[Item | tuple[ItemKind, int]]


def _items_query(items: Items, person_ids: Collection[int] | None) -> Select[Any] | None:
    """``grants_query`` for these items; None when there is nothing to ask (no query at all)."""
    keys: dict[ItemKind, set[int]] = defaultdict(set)
    for item in items:
        kind, item_id = item.key if isinstance(item, Item) else item
        keys[kind].add(item_id)
    if person_ids is not None and not person_ids:
        return None
    return grants_query(keys, person_ids)


async def load_grants(
    session: AsyncSession, items: Items, person_ids: Collection[int] | None = None
) -> Grants:
    """The approved grants on these items, for everyone or only ``person_ids``: one query."""
    stmt = _items_query(items, person_ids)
    return Grants() if stmt is None else Grants.from_rows((await session.execute(stmt)).all())


def load_grants_sync(
    session: Session, items: Items, person_ids: Collection[int] | None = None
) -> Grants:
    """``load_grants`` for the synchronous writer process."""
    stmt = _items_query(items, person_ids)
    return Grants() if stmt is None else Grants.from_rows(session.execute(stmt).all())


async def due_for(session: AsyncSession, item: Item, person_id: int) -> Due:
    """When ``item`` is due for one person, and the extension that applies."""
    if not item.kind.extendable:
        return due(item, person_id, ())
    grants = await load_grants(session, [item], [person_id])
    return grants.due(item, person_id)


# --------------------------------------------------------------------------- granting


@dataclass(frozen=True)
class Granted:
    """A grant just approved: the row, the person's due time before and after."""

    extension: Extension
    was: Due
    now: Due
    #: Earlier approved grants it replaced (now ``superseded``).
    superseded: tuple[int, ...]


async def supersede(session: AsyncSession, extension: Extension) -> tuple[int, ...]:
    """Mark the person's earlier approved grants on this item superseded (by the rule)."""
    column = _column_of(extension)
    item_id = getattr(extension, column.key)
    rows = (
        await session.execute(
            select(
                Extension.id,
                Extension.person_id,
                Extension.new_due_at,
                func.coalesce(Extension.decided_at, Extension.requested_at),
            ).where(
                column == item_id,
                Extension.person_id == extension.person_id,
                Extension.status == ExtensionStatus.APPROVED,
            )
        )
    ).all()
    ids = sorted(superseded(Grant(i, p, d, at) for i, p, d, at in rows))
    if ids:
        await session.execute(
            update(Extension)
            .where(Extension.id.in_(ids), Extension.status == ExtensionStatus.APPROVED)
            .values(status=ExtensionStatus.SUPERSEDED)
            .execution_options(synchronize_session="fetch")
        )
    return tuple(ids)


def _column_of(extension: Extension) -> InstrumentedAttribute[int | None]:
    for column in COLUMN.values():
        if getattr(extension, column.key) is not None:
            return column
    raise ValueError(f"extension {extension.id} names no item")


async def grant(
    session: AsyncSession,
    item: Item,
    person_id: int,
    new_due_at: datetime,
    *,
    reason_ref: str,
    decided_by_id: int | None,
    now: datetime,
) -> Granted:
    """Approve an extension now: it applies from this moment, earlier ones are superseded.

    The caller has checked ``rules.extends`` (with its own wording), permissions and
    ``eligibility`` (the student, the reason: cleaned again here, which changes nothing).
    """
    if not item.kind.extendable:
        raise ValueError(f"a {item.kind.value} cannot be extended")
    was = await due_for(session, item, person_id)
    row = Extension(
        person_id=person_id,
        new_due_at=new_due_at,
        reason_ref=clean_reason(reason_ref),
        status=ExtensionStatus.APPROVED,
        requested_at=now,
        decided_by_id=decided_by_id,
        decided_at=now,
    )
    setattr(row, COLUMN[item.kind].key, item.id)
    session.add(row)
    await session.flush()
    replaced = await supersede(session, row)
    after = await due_for(session, item, person_id)
    return Granted(row, was, after, replaced)


async def grant_later(
    session: AsyncSession,
    item: Item,
    person_id: int,
    new_due_at: datetime,
    *,
    refusal: str,
    reason_ref: str,
    decided_by_id: int | None,
    now: datetime,
) -> Granted:
    """A tutor's grant: refused with ``refusal`` (the feature's wording) unless it ends after
    the item's own due time (``rules.extends``), else approved now as ``grant`` does.

    The caller has checked permissions and ``eligibility`` (the student, the reason).
    """
    if not extends(item.due_at, new_due_at):
        raise UserError(refusal)
    return await grant(
        session,
        item,
        person_id,
        new_due_at,
        reason_ref=reason_ref,
        decided_by_id=decided_by_id,
        now=now,
    )

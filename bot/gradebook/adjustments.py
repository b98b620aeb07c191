"""Manual adjustments of a student's mark, with their reason in the ledger (staff command)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.identity import ChatUser
from bot.access.permissions import Caller, student_of
from bot.db.models import LedgerEntry, LedgerSource
from bot.errors import UserError, shown
from bot.gradebook import audit, ledger
from bot.gradebook.book import ItemType, adjustment_item_type, format_points
from bot.gradebook.loading import ModuleBook, load_module_book
from bot.gradebook.marks import COMPONENT_LABELS, Component, format_mark
from bot.gradebook.scope import cohort_zone, staff_module
from bot.gradebook.weights import decimal_option

MAX_ADJUSTMENT = Decimal(1000)
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
    module = await staff_module(session, caller, module_code)
    try:
        which = Component(component.strip().lower())
    except ValueError:
        raise UserError(
            f"There is no participation component {shown(component)}; use "
            f"{', '.join(c.value for c in Component)}."
        ) from None
    amount = decimal_option("points", points)
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT or amount != amount.quantize(Decimal("0.001")):
        raise UserError(
            "The points must be a number other than 0, from -1000 to 1000, with at most 3 decimals."
        )
    why = " ".join((reason or "").split())
    if len(why) < 3:
        raise UserError("Give a reason for the adjustment (it is kept in the audit trail).")
    person = await student_of(session, module, student)
    zone = await cohort_zone(session, caller.cohort_id)
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

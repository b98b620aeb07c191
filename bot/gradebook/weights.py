"""A module's weights and the release of its participation mark (staff commands)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.access.permissions import Caller
from bot.db.models import MarkRelease
from bot.db.models import MarkScheme as MarkSchemeRow
from bot.errors import UserError, shown
from bot.gradebook import audit, snapshot
from bot.gradebook.book import format_points
from bot.gradebook.loading import PARTICIPATION, load_module_book, load_release, load_scheme
from bot.gradebook.marks import MarkScheme, format_mark
from bot.gradebook.scope import cohort_zone, staff_module
from bot.outbox import Message
from bot.timeparse import discord_timestamp

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


def decimal_option(name: str, value: float | str | Decimal) -> Decimal:
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
    module = await staff_module(session, caller, module_code)
    current = await load_scheme(session, module.id)
    given = {k: v for k, v in changes.items() if v is not None}
    if not given and participation_share is None:
        return WeightsResult(module.code, current.scheme, current.participation_share, False)
    weights: dict[str, object] = {c.value: w for c, w in current.scheme.weights.items()}
    weights.update(given)
    scheme = MarkScheme.from_dict(weights)
    share = current.participation_share
    if participation_share is not None:
        share = decimal_option("participation share", participation_share)
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
    module = await staff_module(session, caller, module_code)
    existing = await load_release(session, module.id)
    if existing is not None:
        raise UserError(
            f"Participation marks of {module.code} were already released on "
            f"{discord_timestamp(existing.released_at, 'F')}."
        )
    zone = await cohort_zone(session, caller.cohort_id)
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
    result = ReleaseResult(module.code, len(book.students), module.channel_id, module.role_id, now)
    if module.channel_id is not None:
        # The class is told in the module channel, by the outbox, with the release.
        await outbox.enqueue(
            session,
            [
                Message(
                    key=f"gradebook:participation-released:{release.id}",
                    feature="gradebook",
                    kind="release",
                    text=result.announcement,
                    channel_id=module.channel_id,
                    mention_role_id=module.role_id,
                    scope_id=module.id,
                    ref_id=release.id,
                )
            ],
            now,
        )
    return result

"""Claimed notices handed to the outbox, and the outbox's outcomes recorded on the notices
(see ``bot.calendar.engine``).

The engine keeps deciding *what* to send and when (per-person due times, quiet hours,
superseded and no-longer-useful notices, DM reminders turned off, late notes); the outbox
sends it once (``bot.outbox``): a notice claimed by the engine is rendered as it reads now and
enqueued, and in the same transaction marked as the outbox's (``claimed_by = OUTBOX``), so a
crash leaves either a notice the engine takes again or a message the outbox owns. Each
message keeps the notice's marker (``-# cohortbot notice 42``), so one sent before the upgrade
is still recognised. A DM refused (closed DMs) falls back to a mention in the module channel,
as before; the outbox's hooks record sent or failed on the notice (and a tutorial card's
message id on its occurrence).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.calendar import messages as M
from bot.calendar.engine_state import _atomic, _Claimed, _Run
from bot.chat import Button, ButtonStyle
from bot.db.models import EventOccurrence, Notice, NoticeStatus
from bot.outbox import Message, Outcome

log = logging.getLogger("bot.calendar.engine")  # one logger name for the whole engine

FEATURE = "calendar"
#: ``Notice.claimed_by`` of a notice whose message the outbox owns.
OUTBOX = "outbox"
FALLBACK_NOTE = "DM closed (403): sent as a mention in the module channel"


def key_of(notice_id: int) -> str:
    return f"{FEATURE}:notice:{notice_id}"


def marker(notice_id: int) -> str:
    """The marker every notice carried before the outbox (``M.marker`` without its prefix)."""
    return f"notice {notice_id}"


def _buttons(specs: Sequence[M.ButtonSpec]) -> tuple[Button, ...]:
    return tuple(
        Button(b.label, b.custom_id, ButtonStyle(b.style), disabled=b.disabled) for b in specs
    )


def _text(n: _Claimed, text: str) -> str:
    return f"{text}\n{M.LATE_NOTE}" if n.late else text


def message_for(
    n: _Claimed, run: _Run, module_id: int | None, person_id: int | None
) -> Message | str:
    """The notice as an outbox message, or why it is skipped."""
    if n.kind == M.TUTORIAL_CARD_EDIT:
        if n.card is None or n.card_message_id is None or n.module_channel_id is None:
            return "the card was never posted"
        card_notice = int(str(n.payload.get("card_notice_id", 0)))
        rendered = M.render_card(n.card)
        return Message(
            key=key_of(n.id),
            feature=FEATURE,
            kind=n.kind,
            text=rendered.text,
            channel_id=n.module_channel_id,
            buttons=_buttons(rendered.buttons),
            marker=marker(card_notice),
            edit_of=n.card_message_id,
            ref_id=n.id,
        )
    if n.personal and n.kind in M.REMINDER_KINDS and not n.dm_reminders:
        return "the person turned DM reminders off"
    if n.kind == M.TUTORIAL_CARD:
        if n.card is None:
            raise ValueError(f"tutorial card notice {n.id} has no occurrence")
        rendered = M.render_card(n.card)
    else:
        # As it reads now: a late notice states the time left at sending, not as planned.
        rendered = M.render(n.kind, n.payload, personal=n.personal, zone=n.zone, now=run.clock())
    common: dict[str, Any] = {
        "key": key_of(n.id),
        "feature": FEATURE,
        "kind": n.kind,
        "text": _text(n, rendered.text),
        "buttons": _buttons(rendered.buttons),
        "marker": marker(n.id),
        "ref_id": n.id,
        "verify": n.verify,
    }
    if not n.personal:
        if n.target_channel_id is not None:
            common["channel_id"] = n.target_channel_id
        elif module_id is not None:
            common["module_id"] = module_id  # sent once the module's channel is linked
        else:
            return "the notice has no channel to go to"
        return Message(**common, mention_role_id=n.role_id if n.kind not in M.CARD_KINDS else None)
    fallback: dict[str, Any] = {}
    if n.user_id is not None:
        keep = () if n.kind in M.PRIVATE_KINDS else rendered.buttons
        fallback = {
            "module_id": module_id,
            "fallback_text": _text(n, M.fallback_text(n.kind, n.user_id, rendered, n.payload)),
            "fallback_buttons": _buttons(keep),
        }
    if person_id is None:
        return "the notice has nobody to go to"
    return Message(**common, person_id=person_id, **fallback)


async def hand_over(run: _Run, claimed: list[_Claimed]) -> list[int]:
    """Enqueue the claimed notices' messages; returns the ids handed over."""
    config, now = run.config, run.clock()
    if not claimed:
        return []

    async def work(session: AsyncSession) -> tuple[list[int], list[tuple[int, str]]]:
        targets = {
            notice_id: (module_id, person_id)
            for notice_id, module_id, person_id in (
                await session.execute(
                    select(Notice.id, Notice.module_id, Notice.person_id).where(
                        Notice.id.in_([n.id for n in claimed])
                    )
                )
            ).tuples()
        }
        handed: list[int] = []
        skipped: list[tuple[int, str]] = []
        messages: list[Message] = []
        for n in claimed:
            decided = message_for(n, run, *targets.get(n.id, (None, None)))
            mine = (
                (Notice.id == n.id)
                & (Notice.status == NoticeStatus.CLAIMED)
                & (Notice.claimed_by == config.worker_id)
            )
            if isinstance(decided, str):
                await session.execute(
                    update(Notice)
                    .where(mine)
                    .values(status=NoticeStatus.SKIPPED, last_error=decided)
                )
                skipped.append((n.id, decided))
                continue
            won = await session.execute(
                update(Notice)
                .where(mine)
                .values(claimed_by=OUTBOX, claimed_at=now)
                .returning(Notice.id)
            )
            if won.first() is None:
                continue  # taken over meanwhile: its taker hands it over
            handed.append(n.id)
            messages.append(decided)
        await outbox.enqueue(session, messages, now)
        return handed, skipped

    handed, skipped = await _atomic(run.db, work)
    for notice_id, reason in skipped:
        log.info("notice %s skipped: %s", notice_id, reason)
        run.report.skipped += 1
        run.report.outcomes.append((notice_id, "skipped"))
        run.emit("skipped")
    return handed


async def count_outcomes(run: _Run, outcomes: Sequence[Outcome], handed: Sequence[int]) -> None:
    """The run's report: what became of the notices it handed over, and of those the outbox
    sent for it in this run (retries). Read from the notices, so it holds whichever run of
    the outbox (this one, or one woken by the hand-over's commit) sent them."""
    report = run.report
    ids = set(handed) | {
        o.ref_id for o in outcomes if o.feature == FEATURE and o.ref_id is not None
    }
    if not ids:
        return

    async def read(session: AsyncSession) -> list[Any]:
        return list(
            (
                await session.execute(
                    select(
                        Notice.id,
                        Notice.status,
                        Notice.late,
                        Notice.last_error,
                        Notice.delivered_via,
                    )
                    .where(Notice.id.in_(sorted(ids)))
                    .order_by(Notice.id)
                )
            ).all()
        )

    for notice_id, status, late, note, via in await _atomic(run.db, read):
        if status is NoticeStatus.FAILED:
            report.failed += 1
            report.outcomes.append((notice_id, "failed"))
            run.emit("failed")
        elif status is NoticeStatus.SENT:
            if note == "recovered":
                report.recovered += 1
            if via == "fallback":
                report.fallbacks += 1
            what = "late" if late else "sent"
            if late:
                report.late += 1
            else:
                report.sent += 1
            report.outcomes.append((notice_id, what))
            run.emit(what)
        elif status is NoticeStatus.CLAIMED:
            report.retrying += 1
            report.outcomes.append((notice_id, "retrying"))


# --------------------------------------------------------------------------- hooks


def _handed(notice_id: int) -> Any:
    return (
        (Notice.id == notice_id)
        & (Notice.status == NoticeStatus.CLAIMED)
        & (Notice.claimed_by == OUTBOX)
    )


async def _sent(session: AsyncSession, o: Outcome) -> None:
    if o.ref_id is None:
        return
    note = "recovered" if o.recovered else FALLBACK_NOTE if o.via == "fallback" else None
    done = await session.execute(
        update(Notice)
        .where(_handed(o.ref_id))
        .values(
            status=NoticeStatus.SENT,
            sent_at=o.at,
            channel_id=o.channel_id,
            platform_message_id=o.message_id,
            delivered_via=o.via,
            last_error=note,
            retry_at=None,
            attempts=o.attempts,
        )
        .returning(Notice.occurrence_id)
    )
    occurrence = done.scalar_one_or_none()
    if o.kind == M.TUTORIAL_CARD and occurrence is not None:
        await session.execute(
            update(EventOccurrence)
            .where(EventOccurrence.id == occurrence)
            .values(message_id=o.message_id)
        )


async def _failed(session: AsyncSession, o: Outcome) -> None:
    if o.ref_id is None:
        return
    log.error("notice %s failed for good: %s", o.ref_id, o.error)
    await session.execute(
        update(Notice)
        .where(_handed(o.ref_id))
        .values(status=NoticeStatus.FAILED, last_error=(o.error or "")[:1000], attempts=o.attempts)
    )


outbox.register(FEATURE, sent=_sent, failed=_failed)

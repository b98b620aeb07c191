"""The weekly early-warning digest: each module's tutors get its flagged students by DM.

Opt-in per cohort (``digest = true`` in the programme file's ``[early_warning]``), sent at
``digest_weekday``/``digest_hour`` in the cohort's zone, or later that day when a tutor's quiet
hours end; a digest more than a day late is not sent. Tutors who turned DM reminders off get
none. Each (module, tutor, week) is claimed in ``processed_events`` and enqueued in the outbox
(same key) in one transaction, so it is sent exactly once, whichever process decides it and
even if one dies while sending.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.calendar.notices import quiet_period_end
from bot.calendar.planning import quiet_hours_of
from bot.dashboard.messages import DIGEST, FEATURE
from bot.db.claims import claim_once
from bot.db.engine import Database
from bot.db.models import (
    Cohort,
    EarlyWarningSettings,
    Enrolment,
    EnrolmentStatus,
    Module,
    Person,
    ProcessedEvent,
    Role,
)
from bot.insights.service import module_insights
from bot.insights.thresholds import Thresholds, parse_thresholds
from bot.timeparse import get_zone

__all__ = ["DIGEST_WINDOW", "digest_moment", "digest_text", "send_digests"]

log = logging.getLogger(__name__)
DIGEST_WINDOW = timedelta(days=1)
MAX_LINES = 15


def digest_moment(now: datetime, zone: str, weekday: int, hour: int) -> datetime:
    """The latest digest time at or before ``now`` (aware, in the cohort's zone)."""
    local = now.astimezone(get_zone(zone))
    day = local.date() - timedelta(days=(local.isoweekday() - weekday) % 7)
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=local.tzinfo)
    if moment > local:
        moment -= timedelta(days=7)
    return moment


def digest_text(module: Module, flagged: list[tuple[str, str]], students: int) -> str:
    lines = [
        f"Weekly early warning for {module.code} {module.title}: "
        f"{len(flagged)} of {students} students flagged."
    ]
    for name, why in flagged[:MAX_LINES]:
        lines.append(f"• {name}: {why}")
    if len(flagged) > MAX_LINES:
        lines.append(f"… and {len(flagged) - MAX_LINES} more.")
    lines.append("See the reasons and write to them from the dashboard: type /dashboard.")
    return "\n".join(lines)[:1900]


async def _due_digests(session: AsyncSession, now: datetime) -> list[outbox.Message]:
    due: list[outbox.Message] = []
    for row, cohort in (
        await session.execute(
            select(EarlyWarningSettings, Cohort).join(
                Cohort, Cohort.id == EarlyWarningSettings.cohort_id
            )
        )
    ).all():
        t: Thresholds = parse_thresholds(row.thresholds)
        if not t.digest:
            continue
        moment = digest_moment(now, cohort.timezone, t.digest_weekday, t.digest_hour)
        if now - moment > DIGEST_WINDOW:
            continue
        tutors = (
            await session.execute(
                select(Module, Person)
                .join(Enrolment, Enrolment.module_id == Module.id)
                .join(Person, Person.id == Enrolment.person_id)
                .where(
                    Module.cohort_id == cohort.id,
                    Enrolment.role == Role.TUTOR,
                    Enrolment.status == EnrolmentStatus.ACTIVE,
                    Person.erased_at.is_(None),
                    Person.platform_user_id.is_not(None),
                    Person.dm_reminders.is_(True),
                )
                .order_by(Module.code, Person.id)
            )
        ).all()
        keys = {f"ew-digest:{m.id}:{p.id}:{moment.date().isoformat()}": (m, p) for m, p in tutors}
        done = set(
            (
                await session.execute(
                    select(ProcessedEvent.key).where(ProcessedEvent.key.in_(list(keys)))
                )
            )
            .scalars()
            .all()
        )
        texts: dict[int, str | None] = {}
        for key, (module, tutor) in keys.items():
            if key in done:
                continue
            quiet = quiet_hours_of(tutor, cohort.timezone)
            if quiet is not None and quiet_period_end(now, quiet) is not None:
                continue  # asked again at the next tick, within the day
            if module.id not in texts:
                flags = (await module_insights(session, module, now, t)).flags
                flagged = [(f.name, f.flag.summary) for f in flags if f.flag.flagged]
                texts[module.id] = digest_text(module, flagged, len(flags)) if flagged else None
            if not await claim_once(session, key, now):
                continue
            text = texts[module.id]
            if text is not None:
                due.append(
                    outbox.Message(
                        key=key,
                        feature=FEATURE,
                        kind=DIGEST,
                        text=text,
                        person_id=tutor.id,
                        scope_id=module.id,
                    )
                )
    return due


async def send_digests(db: Database, now: datetime) -> int:
    """Enqueue every digest due now (the outbox sends them); returns how many."""
    async with db.session() as session:
        due = await _due_digests(session, now)
        return await outbox.enqueue(session, due, now) if due else 0

"""Which notices the bot owes, when, and what to do with one whose moment passed.

Planning is pure: the notice service turns ``PlannedNotice`` values into ``Notice`` rows (the
``dedupe_key`` is their unique key, so planning twice never schedules twice) and asks
``catch_up`` what to do with each due row.

A deadline is an instant. Nothing here takes a student's time zone except quiet hours: the zone
only decides how a time is *shown* (Discord timestamps do that in each reader's client) and
when a DM would wake someone, never when something is due. A per-student extension is a new
instant for that student only, so their notices are planned against it.
"""

from __future__ import annotations

import bisect
import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from bot.due.rules import extends
from bot.timeparse import (
    CalendarInputError,
    ZoneLike,
    discord_timestamp,
    format_duration,
    get_zone,
)

__all__ = [
    "DEADLINE_NOTICE",
    "DEADLINE_OFFSETS",
    "LATE_AFTER",
    "TUTORIAL_OFFSETS",
    "TUTORIAL_REMINDER",
    "Delivery",
    "NoticeTiming",
    "PlannedNotice",
    "QuietHours",
    "catch_up",
    "catch_up_many",
    "notice_group",
    "notice_text",
    "plan_deadline_notices",
    "plan_tutorial_reminders",
    "quiet_period_end",
    "shift_for_quiet_hours",
]

TUTORIAL_REMINDER = "tutorial_reminder"
DEADLINE_NOTICE = "deadline_notice"

TUTORIAL_OFFSETS: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(minutes=15))
DEADLINE_OFFSETS: tuple[timedelta, ...] = (
    timedelta(days=7),
    timedelta(hours=48),
    timedelta(hours=24),
    timedelta(hours=1),
)

#: A notice sent within this of its due time is on time: the scheduler wakes a little late
#: and a sending process may retry once; beyond it the message says it is late.
LATE_AFTER = timedelta(minutes=2)

_MAX_KEY = 200  # Notice.dedupe_key column length


# --------------------------------------------------------------------------- quiet hours


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A person's do-not-disturb window in their own zone; ``start > end`` wraps midnight.

    ``start == end`` is an empty window (no quiet hours), not a whole day.
    """

    start: time
    end: time
    zone: ZoneLike

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall times; pass naive time values")


def quiet_period_end(instant: datetime, quiet: QuietHours) -> datetime | None:
    """When the quiet period containing ``instant`` ends (aware UTC), or None if not quiet.

    Decided on the person's local wall clock, so a 22:00–07:00 window is 22:00–07:00 in both
    winter and summer time. If the end wall time falls in a spring-forward gap it is read with
    the RFC 5545 rule (one gap later); in an autumn fold, the first end after ``instant``.
    """
    _require_aware(instant, "instant")
    if quiet.start == quiet.end:
        return None
    tz = get_zone(quiet.zone)
    local = instant.astimezone(tz)
    wall = local.time().replace(tzinfo=None, fold=0)
    end_day = local.date()
    if quiet.start < quiet.end:
        if not quiet.start <= wall < quiet.end:
            return None
    elif wall >= quiet.start:
        end_day += timedelta(days=1)
    elif wall >= quiet.end:
        return None
    end_wall = datetime.combine(end_day, quiet.end)
    for fold in (0, 1):
        candidate = end_wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if candidate > instant:
            return candidate
    return None


def shift_for_quiet_hours(
    due_at: datetime, quiet: QuietHours | None, item_at: datetime
) -> datetime:
    """Move a DM due in quiet hours to the end of them, but never onto or past its item.

    When the quiet period ends at or after the thing the notice is about (a 15-minute reminder
    for a 07:00 tutorial, quiet until 08:00), the notice goes at its original time: a late
    reminder is worthless, and the person chose to be reminded of this item. Channel notices
    must not be passed quiet hours at all: a channel post wakes nobody in particular.
    """
    _require_aware(due_at, "due_at")
    _require_aware(item_at, "item_at")
    if quiet is None:
        return due_at
    end = quiet_period_end(due_at, quiet)
    if end is None or end >= item_at:
        return due_at
    return end


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    """One notice owed to one audience about one item.

    ``nominal_due_at`` is ``item_at - offset``; ``due_at`` is that moved out of quiet hours.
    The dedupe key names the kind, item, audience, the item's instant and the offset, so moving
    a deadline or granting an extension yields new keys (the old rows must be cancelled by the
    service) while re-planning an unchanged item yields the same keys.
    """

    kind: str
    item_key: str
    audience_key: str
    offset: timedelta
    item_at: datetime
    nominal_due_at: datetime
    due_at: datetime
    useful_until: datetime

    @property
    def offset_label(self) -> str:
        return format_duration(self.offset)

    @property
    def key_parts(self) -> tuple[str, str, str, str, str]:
        return (
            self.kind,
            self.item_key,
            self.audience_key,
            str(int(self.item_at.timestamp())),
            self.offset_label,
        )

    @property
    def dedupe_key(self) -> str:
        return ":".join(self.key_parts)

    @property
    def group(self) -> str:
        """Notices that supersede each other: same item, same audience, same instant."""
        return notice_group(self.dedupe_key)


def notice_group(dedupe_key: str) -> str:
    """The group of a stored notice, from its key alone (the offset is the last part)."""
    return dedupe_key.rsplit(":", 1)[0]


def plan_tutorial_reminders(
    starts_at: datetime,
    ends_at: datetime,
    *,
    item_key: str,
    audience_key: str,
    offsets: Iterable[timedelta] = TUTORIAL_OFFSETS,
    quiet: QuietHours | None = None,
    not_before: datetime | None = None,
) -> list[PlannedNotice]:
    """Reminders before one tutorial occurrence, each useful until the tutorial ends.

    Someone who missed the 24-hour reminder while the bot was down still wants to know a
    tutorial is on now; after it ends there is nothing to remind of.
    """
    _require_aware(starts_at, "starts_at")
    _require_aware(ends_at, "ends_at")
    if ends_at < starts_at:
        raise CalendarInputError("A tutorial cannot end before it starts; check its times.")
    return _plan(
        TUTORIAL_REMINDER,
        item_at=starts_at,
        useful_until=ends_at,
        item_key=item_key,
        audience_key=audience_key,
        offsets=offsets,
        quiet=quiet,
        not_before=not_before,
    )


def plan_deadline_notices(
    due_at: datetime,
    *,
    item_key: str,
    audience_key: str,
    offsets: Iterable[timedelta] = DEADLINE_OFFSETS,
    extended_due_at: datetime | None = None,
    quiet: QuietHours | None = None,
    not_before: datetime | None = None,
) -> list[PlannedNotice]:
    """Notices before a deadline instant, each useful until that instant.

    ``extended_due_at`` is the student's approved extension: the notices are planned against it
    instead (pass the student as ``audience_key``). ``not_before`` drops notices whose moment
    had already passed when the item was created or changed (a deadline set 30 hours ahead gets
    no "7 days left" notice); pass the change time, not the current time of a later re-plan, or
    notices missed while offline would vanish instead of being sent late.
    """
    _require_aware(due_at, "due_at")
    item_at = due_at
    if extended_due_at is not None:
        _require_aware(extended_due_at, "extended_due_at")
        if not extends(due_at, extended_due_at):
            raise CalendarInputError(
                "An extension must end after the deadline it extends; give a later time."
            )
        item_at = extended_due_at
    return _plan(
        DEADLINE_NOTICE,
        item_at=item_at,
        useful_until=item_at,
        item_key=item_key,
        audience_key=audience_key,
        offsets=offsets,
        quiet=quiet,
        not_before=not_before,
    )


def _plan(
    kind: str,
    *,
    item_at: datetime,
    useful_until: datetime,
    item_key: str,
    audience_key: str,
    offsets: Iterable[timedelta],
    quiet: QuietHours | None,
    not_before: datetime | None,
) -> list[PlannedNotice]:
    for part in (item_key, audience_key):
        if not part or ":" in part:
            raise ValueError(f"key part {part!r} must be non-empty and contain no ':'")
    if not_before is not None:
        _require_aware(not_before, "not_before")
    item_at = item_at.astimezone(UTC)
    useful_until = useful_until.astimezone(UTC)
    planned: list[PlannedNotice] = []
    for offset in sorted(set(offsets), reverse=True):
        if offset < timedelta(0):
            raise ValueError(f"negative notice offset {offset!r}: a notice comes before its item")
        nominal = item_at - offset
        if not_before is not None and nominal < not_before:
            continue
        notice = PlannedNotice(
            kind=kind,
            item_key=item_key,
            audience_key=audience_key,
            offset=offset,
            item_at=item_at,
            nominal_due_at=nominal,
            due_at=shift_for_quiet_hours(nominal, quiet, item_at),
            useful_until=useful_until,
        )
        if len(notice.dedupe_key) > _MAX_KEY:
            raise ValueError(f"dedupe key longer than {_MAX_KEY}: {notice.dedupe_key!r}")
        planned.append(notice)
    return planned


# --------------------------------------------------------------------------- catch-up


class Delivery(enum.StrEnum):
    WAIT = "wait"
    SEND_ON_TIME = "send_on_time"
    SEND_LATE = "send_late"  # send, and say it is late
    SKIP = "skip"  # record as skipped and log why


def catch_up(
    now: datetime,
    due_at: datetime,
    useful_until: datetime | None,
    *,
    next_due_at: datetime | None = None,
    late_after: timedelta = LATE_AFTER,
) -> Delivery:
    """What to do with a notice at ``now`` (typically after a restart or outage).

    - not due yet: WAIT;
    - past ``useful_until`` (a tutorial reminder after the tutorial ended, a deadline notice
      after the deadline): SKIP;
    - superseded: ``next_due_at`` is the due time of the next notice of the same item and
      audience; if that one is already due too, this one is SKIPped so a student coming back
      online gets one "24 hours left", not "7 days left" and "48 hours left" as well;
    - due within ``late_after``: SEND_ON_TIME; otherwise SEND_LATE (marked late).
    """
    _require_aware(now, "now")
    _require_aware(due_at, "due_at")
    if now < due_at:
        return Delivery.WAIT
    if useful_until is not None and now >= useful_until:
        return Delivery.SKIP
    if next_due_at is not None and next_due_at <= now:
        return Delivery.SKIP
    if now - due_at <= late_after:
        return Delivery.SEND_ON_TIME
    return Delivery.SEND_LATE


@dataclass(frozen=True, slots=True)
class NoticeTiming:
    """The fields of a stored notice that ``catch_up_many`` needs."""

    group: str
    due_at: datetime
    useful_until: datetime | None


def catch_up_many(
    now: datetime, notices: Sequence[NoticeTiming], *, late_after: timedelta = LATE_AFTER
) -> list[Delivery]:
    """``catch_up`` for a batch, finding each notice's successor within its group.

    Pass all pending notices of the groups concerned (not only the due ones), in any order;
    the result is in the same order as the input.
    """
    by_group: defaultdict[str, list[datetime]] = defaultdict(list)
    for notice in notices:
        by_group[notice.group].append(notice.due_at)
    for times in by_group.values():
        times.sort()
    decisions: list[Delivery] = []
    for notice in notices:
        times = by_group[notice.group]
        after = bisect.bisect_right(times, notice.due_at)
        decisions.append(
            catch_up(
                now,
                notice.due_at,
                notice.useful_until,
                next_due_at=times[after] if after < len(times) else None,
                late_after=late_after,
            )
        )
    return decisions


# --------------------------------------------------------------------------- rendering


def notice_text(kind: str, title: str, item_at: datetime, *, late: bool = False) -> str:
    """The sentence a notice carries; Discord timestamps show it in each reader's own zone."""
    when = f"{discord_timestamp(item_at, 'R')} ({discord_timestamp(item_at, 'F')})"
    if kind == TUTORIAL_REMINDER:
        text = f"Reminder: tutorial **{title}** starts {when}."
    elif kind == DEADLINE_NOTICE:
        text = f"Deadline: **{title}** is due {when}."
    else:
        raise ValueError(f"unknown notice kind {kind!r}")
    if late:
        text += " (Sent late: the bot was unavailable when this was due.)"
    return text


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive {what} {value!r} refused: pass an aware datetime")

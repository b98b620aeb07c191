"""What each notice says, and how a sent notice is recognised again after a crash.

Pure: the engine hands in the notice's stored facts and gets text and buttons back. Times are
Discord timestamps so every reader sees their own local time; a DM to someone who set a zone
also spells the local time out (it survives being forwarded or read in a notification).

Every notice ends with a small marker line (``-# cohortbot notice 42``). It is how the engine
finds a notice in the channel's history when the process that claimed it died between sending
and recording the send: found means "already sent, record it", not found means "send it".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.calendar.notices import DEADLINE_NOTICE, TUTORIAL_REMINDER
from bot.timeparse import discord_timestamp, get_zone

__all__ = [
    "CARD_KINDS",
    "DEADLINE_NOTICE",
    "EXTENSION_DENIED",
    "EXTENSION_GRANTED",
    "EXTENSION_REQUEST",
    "FEEDBACK_RELEASED",
    "LATE_NOTE",
    "PRIVATE_KINDS",
    "REMINDER_KINDS",
    "TUTORIAL_CARD",
    "TUTORIAL_CARD_EDIT",
    "TUTORIAL_CHANGED",
    "TUTORIAL_REMINDER",
    "ButtonSpec",
    "CardFacts",
    "Rendered",
    "fallback_text",
    "has_marker",
    "in_words",
    "marker",
    "render",
    "render_card",
    "time_left",
]

TUTORIAL_CARD = "tutorial_card"
TUTORIAL_CARD_EDIT = "tutorial_card_edit"
TUTORIAL_CHANGED = "tutorial_changed"
EXTENSION_GRANTED = "extension_granted"
EXTENSION_DENIED = "extension_denied"
EXTENSION_REQUEST = "extension_request"
FEEDBACK_RELEASED = "feedback_released"

#: Reminders a person can switch off (``/calendar reminders``); decisions and changes are not.
REMINDER_KINDS = frozenset({TUTORIAL_REMINDER, DEADLINE_NOTICE})
#: Never repeated in a channel when the DM fails: they concern one person's circumstances.
PRIVATE_KINDS = frozenset({EXTENSION_GRANTED, EXTENSION_DENIED, EXTENSION_REQUEST})
CARD_KINDS = frozenset({TUTORIAL_CARD, TUTORIAL_CARD_EDIT})

LATE_NOTE = "*(Sent late: the bot was unavailable when this was due.)*"
_MARKER = "-# cohortbot notice {id}"

KIND_LABELS = {
    "submission_deadline": "Submission deadline",
    "marking_period_end": "Marking period end",
    "feedback_return": "Feedback return",
}


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    label: str
    custom_id: str
    style: str = "secondary"
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    buttons: tuple[ButtonSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class CardFacts:
    """An occurrence as its card shows it (read fresh when the card is posted or edited)."""

    occurrence_id: int
    module_code: str
    title: str
    sequence: int
    total: int
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    cancelled: bool


def marker(notice_id: int) -> str:
    return _MARKER.format(id=notice_id)


def has_marker(content: str, notice_id: int) -> bool:
    """The marker is the last line, compared whole: notice 4 never matches notice 42."""
    lines = content.rstrip().splitlines()
    return bool(lines) and lines[-1].strip() == marker(notice_id)


def in_words(offset: timedelta) -> str:
    """``7 days``, ``48 hours``, ``15 minutes``, ``1 hour 30 minutes``."""
    seconds = int(offset.total_seconds())
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86_400)
    if days >= 3 and rest == 0:
        return _plural(days, "day")
    hours, rest = divmod(seconds, 3_600)
    minutes = rest // 60
    parts = []
    if hours:
        parts.append(_plural(hours, "hour"))
    if minutes:
        parts.append(_plural(minutes, "minute"))
    return " ".join(parts) or _plural(seconds, "second")


def time_left(payload: dict[str, object], at: datetime, now: datetime | None) -> str:
    """How long is left, in words, as the reader sees it when the notice is sent.

    The planned offset ("48 hours") is right when the notice goes out on time; one sent later
    (the bot was down, a retry) states what is left at sending, to the minute, never the plan.
    """
    offset = timedelta(seconds=int(str(payload.get("offset_s", 0))))
    if now is None:
        return in_words(offset)
    left = at - now
    if left >= offset - timedelta(minutes=1):
        return in_words(offset)
    return in_words(timedelta(minutes=int(left.total_seconds() // 60)))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _when(at: datetime) -> str:
    return f"{discord_timestamp(at, 'F')} ({discord_timestamp(at, 'R')})"


def _local(at: datetime, zone: str | None) -> str:
    """' — 18:00 Tue 3 Mar in Asia/Tokyo' for a DM reader with a zone, else ''."""
    if not zone:
        return ""
    local = at.astimezone(get_zone(zone))
    return f" — {local:%H:%M %a} {local.day} {local:%b} in {zone}"


def _at(payload: dict[str, object], key: str) -> datetime:
    value = payload.get(key)
    if not isinstance(value, str):
        raise ValueError(f"notice payload lacks {key!r}")
    return datetime.fromisoformat(value).astimezone(UTC)


def _s(payload: dict[str, object], key: str, default: str = "") -> str:
    value = payload.get(key)
    return str(value) if value is not None else default


def tutorial_buttons(occurrence_id: int, *, disabled: bool = False) -> tuple[ButtonSpec, ...]:
    return (
        ButtonSpec("Going", f"cb:calendar:going:{occurrence_id}", "success", disabled),
        ButtonSpec("Maybe", f"cb:calendar:maybe:{occurrence_id}", "secondary", disabled),
        ButtonSpec("Not going", f"cb:calendar:notgoing:{occurrence_id}", "secondary", disabled),
        ButtonSpec("Check in", f"cb:calendar:checkin:{occurrence_id}", "primary", disabled),
    )


def render_card(card: CardFacts) -> Rendered:
    """The occurrence's own message: RSVP buttons, and the check-in button for the session."""
    minutes = int((card.ends_at - card.starts_at).total_seconds() // 60)
    head = f"**{card.module_code} tutorial: {card.title}**"
    if card.total > 1:
        head += f" (session {card.sequence} of {card.total})"
    if card.cancelled:
        text = f"~~{head}~~\nCancelled: this session on {discord_timestamp(card.starts_at)} "
        text += "will not take place."
        return Rendered(text, tutorial_buttons(card.occurrence_id, disabled=True))
    lines = [head, f"Starts {_when(card.starts_at)}, {minutes} min."]
    if card.join_url:
        lines.append(f"Join: {card.join_url}")
    lines.append("Will you come? Answer below; press **Check in** when the session starts.")
    return Rendered("\n".join(lines), tutorial_buttons(card.occurrence_id))


def render(
    kind: str,
    payload: dict[str, object],
    *,
    personal: bool,
    zone: str | None = None,
    now: datetime | None = None,
) -> Rendered:
    """Text (without the marker or late note) and buttons of a notice other than a card.

    ``now`` is the sending time: the time left is stated as of then (see ``time_left``).
    """
    title = _s(payload, "title")
    module = _s(payload, "module")
    if kind == TUTORIAL_REMINDER:
        at = _at(payload, "item_at")
        left = time_left(payload, at, now)
        join = _s(payload, "join_url")
        if personal:
            text = (
                f"Reminder: **{title}** ({module}), which you said you are going to, starts in "
                f"{left}: {_when(at)}{_local(at, zone)}."
            )
        else:
            text = f"Reminder: **{module}** tutorial **{title}** starts in {left}: {_when(at)}."
        if join:
            text += f"\nJoin: {join}"
        occurrence_id = int(str(payload.get("occurrence_id", 0)))
        buttons = () if personal or not occurrence_id else tutorial_buttons(occurrence_id)
        return Rendered(text, buttons)
    if kind == DEADLINE_NOTICE:
        at = _at(payload, "item_at")
        event_kind = _s(payload, "event_kind", "submission_deadline")
        left = time_left(payload, at, now)
        if personal and payload.get("extended"):
            text = (
                f"Your extended deadline: **{title}** ({module}) is due in {left}: "
                f"{_when(at)}{_local(at, zone)}."
            )
        elif event_kind == "marking_period_end":
            text = (
                f"Marking period: marking for **{title}** ({module}) must be finished in "
                f"{left}: {_when(at)}{_local(at, zone)}."
            )
        elif event_kind == "feedback_return":
            text = (
                f"Feedback return: feedback on **{title}** ({module}) is due back to students "
                f"in {left}: {_when(at)}{_local(at, zone)}."
            )
        else:
            text = f"**{module}** deadline: **{title}** is due in {left}: {_when(at)}."
            text += (
                "\nStudents with an extension: your own deadline applies "
                "(see `/calendar upcoming`)."
            )
        return Rendered(text)
    if kind == TUTORIAL_CHANGED:
        old = _at(payload, "old_at")
        if payload.get("change") == "cancelled":
            text = (
                f"Cancelled: **{title}** ({module}) on {discord_timestamp(old)}, which you said "
                "you are going to, will not take place."
            )
        else:
            new = _at(payload, "new_at")
            text = (
                f"Moved: **{title}** ({module}), which you said you are going to, is now "
                f"{_when(new)}{_local(new, zone)} (it was {discord_timestamp(old)})."
            )
        return Rendered(text)
    if kind == EXTENSION_GRANTED:
        new = _at(payload, "due_at")
        text = (
            f"Your extension for **{title}** ({module}) is approved: your deadline is now "
            f"{_when(new)}{_local(new, zone)}, instead of "
            f"{discord_timestamp(_at(payload, 'was_at'))}."
            f"\nReference: {_s(payload, 'reason_ref')}. Your reminders and late flag follow the "
            "new time."
        )
        return Rendered(text)
    if kind == EXTENSION_DENIED:
        text = (
            f"Your extension request for **{title}** ({module}) was not approved; your deadline "
            f"stays {_when(_at(payload, 'was_at'))}.\nReference: {_s(payload, 'reason_ref')}. "
            "Please contact your tutor or the programme office if you need to discuss it."
        )
        return Rendered(text)
    if kind == EXTENSION_REQUEST:
        extension_id = int(str(payload.get("extension_id", 0)))
        text = (
            f"Extension request #{extension_id}: **{_s(payload, 'student')}** asks for "
            f"**{title}** ({module}) to be due {discord_timestamp(_at(payload, 'due_at'))} "
            f"instead of {discord_timestamp(_at(payload, 'was_at'))}.\n"
            f"Reason reference: {_s(payload, 'reason_ref')}."
        )
        return Rendered(
            text,
            (
                ButtonSpec("Approve", f"cb:calendar:approve:{extension_id}", "success"),
                ButtonSpec("Deny", f"cb:calendar:deny:{extension_id}", "danger"),
            ),
        )
    if kind == FEEDBACK_RELEASED:
        text = (
            f"**{module}**: feedback on **{title}** has been released. Your marks and feedback "
            "are available now."
        )
        return Rendered(text)
    raise ValueError(f"unknown notice kind {kind!r}")


def fallback_text(kind: str, user_id: str, rendered: Rendered, payload: dict[str, object]) -> str:
    """A channel mention for someone whose DMs are closed; private matters are not repeated."""
    mention = f"<@{user_id}>"
    if kind in PRIVATE_KINDS:
        title = _s(payload, "title")
        where = "`/deadline requests`" if kind == EXTENSION_REQUEST else "`/calendar upcoming`"
        return (
            f"{mention} I have a private message for you about **{title}**, but your direct "
            f"messages are closed. Please allow direct messages from server members, then "
            f"see {where}."
        )
    return f"{mention} (I could not DM you, so here it is.) {rendered.text}"

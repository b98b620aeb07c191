"""Who was actually told: the counts behind a reply like "12 of 13 students were told privately".

A reply must never claim more than happened, so services that send private messages return a
``Delivery`` read back from what the sending recorded (sent, refused, still going), and cogs
render it. ``reason_of`` turns a stored send error into one of a few reasons a tutor can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat import ChatErrorKind

#: The person is on the roster but the bot has not seen their chat account yet.
NOT_LINKED = "not_linked"
#: Anything else (a refusal we have no better word for).
OTHER = "other"


@dataclass(frozen=True)
class Missed:
    name: str
    reason: str  # NOT_LINKED, a ChatErrorKind value, or OTHER


@dataclass(frozen=True)
class Delivery:
    told: int
    missed: tuple[Missed, ...] = ()
    #: Still being sent (a retry is due, or another process is sending it).
    pending: int = 0

    @property
    def total(self) -> int:
        return self.told + len(self.missed) + self.pending


def reason_of(error: str) -> str:
    """The reason behind a stored send error (``ChatError`` text or a "not linked" note)."""
    lowered = error.lower()
    if "linked" in lowered and "channel" not in lowered:
        return NOT_LINKED
    if "dm closed" in lowered:
        return ChatErrorKind.DM_CLOSED.value
    for kind in ChatErrorKind:
        if lowered.startswith(kind.value):
            return kind.value
    return OTHER


@dataclass(frozen=True)
class Platform:
    """The words a reply uses for the chat platform (the sentences are the same on each)."""

    name: str = "Discord"
    #: Where a person is "not yet" when the bot has not seen their account.
    place: str = "server"
    #: What people call a member's name and id there.
    handle: str = "Discord username"
    user_id: str = "Discord id"


DISCORD = Platform()
SLACK = Platform("Slack", "workspace", "Slack handle", "member id")
MAX_NAMES = 10


def why(reason: str, platform: Platform = DISCORD) -> str:
    """Why one person could not be told, in a few words a tutor can act on."""
    words = {
        NOT_LINKED: f"not in this {platform.place} yet",
        "dm_closed": "DMs closed",
        "forbidden": "DMs refused",
        "not_found": f"{platform.name} account not found",
        "unavailable": f"{platform.name} unavailable",
    }
    return words.get(reason, f"refused by {platform.name}")


def told_sentence(
    delivery: Delivery, noun: str, nouns: str, done: str, platform: Platform = DISCORD
) -> str:
    """``12 of 13 students were told privately; 1 could not be reached (DMs closed): A.``
    ``done`` is the participle phrase ("told privately", "sent the request").
    """
    verb = "was" if delivery.told == 1 else "were"
    what = noun if delivery.total == 1 else nouns
    parts = [f"{delivery.told} of {delivery.total} {what} {verb} {done}"]
    by_reason: dict[str, list[str]] = {}
    for missed in delivery.missed:
        by_reason.setdefault(missed.reason, []).append(missed.name)
    for reason, names in sorted(by_reason.items()):
        shown = ", ".join(sorted(names)[:MAX_NAMES])
        if len(names) > MAX_NAMES:
            shown += f" and {len(names) - MAX_NAMES} more"
        parts.append(f"{len(names)} could not be reached ({why(reason, platform)}): {shown}")
    if delivery.pending:
        verb = "is" if delivery.pending == 1 else "are"
        parts.append(f"{delivery.pending} {verb} still being sent")
    return "; ".join(parts) + "."


def told_them(delivery: Delivery, platform: Platform = DISCORD) -> str:
    """The same for one person: "They were told privately." or why not, and what to do."""
    if delivery.missed:
        reason = why(delivery.missed[0].reason, platform)
        return f"They could not be told privately ({reason}); please tell them."
    if delivery.pending or not delivery.told:
        return "Telling them privately is still under way."
    return "They were told privately."

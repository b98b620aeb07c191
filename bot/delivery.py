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

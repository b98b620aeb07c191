"""One way to say who was told: "12 of 13 students were told privately; 1 could not be reached
(DMs closed): Lukas Weber." The sentences live in ``bot.delivery`` (Slack says them too); this
keeps the cogs' import path."""

from __future__ import annotations

from bot.delivery import MAX_NAMES, Delivery, told_sentence, told_them

__all__ = ["MAX_NAMES", "to_them", "told_sentence", "told_them"]


def to_them(delivery: Delivery) -> str:
    """``told_them`` as the end of an answer (``FeatureCog.answer(told=to_them)``)."""
    return f" {told_them(delivery)}"

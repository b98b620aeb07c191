"""One way to say who was told: "12 of 13 students were told privately; 1 could not be reached
(DMs closed): Lukas Weber." The counts come from the services (``bot.delivery``)."""

from __future__ import annotations

from bot.delivery import NOT_LINKED, Delivery

WHY = {
    NOT_LINKED: "not in this server yet",
    "dm_closed": "DMs closed",
    "forbidden": "DMs refused",
    "not_found": "Discord account not found",
    "unavailable": "Discord unavailable",
}
MAX_NAMES = 10


def told_sentence(delivery: Delivery, noun: str, nouns: str, done: str) -> str:
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
        parts.append(
            f"{len(names)} could not be reached ({WHY.get(reason, 'refused by Discord')}): {shown}"
        )
    if delivery.pending:
        verb = "is" if delivery.pending == 1 else "are"
        parts.append(f"{delivery.pending} {verb} still being sent")
    return "; ".join(parts) + "."


def to_them(delivery: Delivery) -> str:
    """``told_them`` as the end of an answer (``FeatureCog.answer(told=to_them)``)."""
    return f" {told_them(delivery)}"


def told_them(delivery: Delivery) -> str:
    """The same for one person: "They were told privately." or why not, and what to do."""
    if delivery.missed:
        why = WHY.get(delivery.missed[0].reason, "refused by Discord")
        return f"They could not be told privately ({why}); please tell them."
    if delivery.pending or not delivery.told:
        return "Telling them privately is still under way."
    return "They were told privately."

"""What the team messages say: shared hours as Discord timestamps (each reader sees their own
time), and why a team was formed. Pure text; the chat adapter shows it as is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.teams import availability as av
from bot.timeparse import discord_timestamp

MAX_BLOCKS = 8


def next_time(reference_week: datetime, slot: int, now: datetime) -> datetime:
    """The next start of ``slot`` (a weekly UTC half hour) at or after ``now``."""
    at = reference_week + timedelta(minutes=slot * av.SLOT_MINUTES)
    while at < now:
        at += timedelta(days=7)
    return at


def shared_lines(mask: int, reference_week: datetime, now: datetime) -> list[str]:
    """One line per weekly block, longest first: ``<t:…:F> – <t:…:t> (3 h)``, in the order they
    next come round."""
    blocks = sorted(av.blocks(mask), key=lambda b: (-b[1], b[0]))[:MAX_BLOCKS]
    timed = sorted((next_time(reference_week, start, now), length) for start, length in blocks)
    lines = []
    for start, length in timed:
        end = start + timedelta(minutes=length * av.SLOT_MINUTES)
        lines.append(
            f"• every week from {discord_timestamp(start, 'F')} to {discord_timestamp(end, 't')} "
            f"({length / av.SLOTS_PER_HOUR:g} h)"
        )
    hidden = len(av.blocks(mask)) - len(blocks)
    if hidden > 0:
        lines.append(f"• and {hidden} shorter block(s)")
    return lines


def why_formed(
    *,
    shared_hours: float,
    longest_hours: float,
    min_hours: float,
    balance: int,
    worst_balance: int,
    answers: Sequence[str],
) -> str:
    """The reasons a team was formed, in one short paragraph."""
    parts = [
        f"You all share {shared_hours:g} hours a week "
        f"(the longest block {longest_hours:g} h; every team needs at least "
        f"{min_hours:g} h in a row), in every week of the term, daylight saving included."
    ]
    if answers:
        parts.append(
            f"Between you, the survey answers cover {balance} different answers "
            f"({', '.join(answers)}); the teams were balanced so that the least varied team "
            f"covers as many as possible ({worst_balance})."
        )
    return " ".join(parts)

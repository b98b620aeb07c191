"""What the bot writes about prompts: the posted prompt, the closing summary, the mark DM.

Plain text with Discord markup (timestamps every reader sees in their own zone); pure, so the
same words appear in tests, the demo and the running bot.
"""

from __future__ import annotations

from datetime import datetime

from bot.discussions.rubric import Rubric, render_rubric
from bot.text import DISCORD_MESSAGE_LIMIT, MARKER_ROOM, split_for_discord
from bot.timeparse import discord_timestamp

__all__ = [
    "closing_marker",
    "closing_summary",
    "marker_of",
    "prompt_label",
    "prompt_messages",
    "when",
]

BODY_MAX_CHARS = 4000
TITLE_MAX_CHARS = 100  # a thread name holds 100 characters
#: Room left in each message for the module-role mention the first one starts with.
MENTION_ROOM = 32


def _marker(what: str) -> str:
    """A small last line naming what a message is, so a retry after a crash can find it in
    the channel instead of posting it twice (as the notice engine does)."""
    return f"-# cohortbot {what}"


def marker_of(content: str) -> str | None:
    """The marker line a message ends with, if it has one."""
    lines = content.rstrip().splitlines()
    last = lines[-1].strip() if lines else ""
    return last if last.startswith("-# cohortbot ") else None


def prompt_part_marker(prompt_id: int, part: int, parts: int) -> str:
    return _marker(f"prompt {prompt_id} · part {part} of {parts}")


def closing_marker(prompt_id: int) -> str:
    return _marker(f"prompt {prompt_id} · closed")


def mark_marker(score_id: int, sequence: int) -> str:
    return _marker(f"mark {score_id} · message {sequence}")


def when(moment: datetime) -> str:
    """A moment as every reader's client shows it: long local date and time, then relative."""
    return f"{discord_timestamp(moment, 'F')} ({discord_timestamp(moment, 'R')})"


def prompt_label(prompt_id: int, title: str) -> str:
    return f"prompt #{prompt_id} “{title}”"


def prompt_messages(
    *,
    prompt_id: int,
    module_code: str,
    module_title: str,
    title: str,
    body: str,
    closes_at: datetime,
    rubric: Rubric,
    private_answers: bool,
) -> list[str]:
    """The prompt as posted: title, text (split if long), then how it is marked and answered.

    The rubric block is kept whole in the last message, which the answers thread hangs from.
    """
    head = (
        f"📝 **{title}** · {module_code} {module_title} · prompt #{prompt_id}\n"
        f"Closes {when(closes_at)}\n\n{body.strip()}"
    )
    how = (
        "Press **Answer** to write your answer. You will see the other answers (and can reply "
        "to them) once yours is posted."
        if private_answers
        else "Answer in the thread below; reply to classmates with Reply or by mentioning them."
    )
    tail = f"**How this prompt is marked** ({rubric.name} rubric)\n{render_rubric(rubric)}\n{how}"
    limit = DISCORD_MESSAGE_LIMIT - MENTION_ROOM - MARKER_ROOM
    parts = split_for_discord(head, limit)
    if len(parts[-1]) + 2 + len(tail) <= limit:
        parts[-1] = f"{parts[-1]}\n\n{tail}"
    else:
        parts.extend(split_for_discord(tail, limit))
    n = len(parts)
    return [f"{p}\n{prompt_part_marker(prompt_id, i + 1, n)}" for i, p in enumerate(parts)]


def closing_summary(
    *,
    prompt_id: int,
    title: str,
    initial_posts: int,
    students: int,
    replies: int,
    closed_at: datetime,
) -> str:
    return (
        f"🔒 **{title}** closed {discord_timestamp(closed_at, 'F')}. "
        f"{initial_posts} of {students} students posted an initial answer; "
        f"{replies} {'reply' if replies == 1 else 'replies'} to classmates. "
        "This thread is now locked. Your tutor grades quality and releases the marks; "
        "check your provisional score any time with `/prompt mine`.\n"
        f"{closing_marker(prompt_id)}"
    )

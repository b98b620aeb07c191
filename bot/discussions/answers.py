"""Answers the bot posts on a student's behalf, and reading them back (pure: no I/O).

In "post before you see others" prompts (and for a student answering after the thread was
locked, under an extension or the late policy) the student writes in a modal and the bot posts
the text into the answers thread. The post starts with a header naming the student, so the
message itself says whose evidence it is: the live recorder and a history backfill after a
crash read the same header and credit the same student, exactly once (by message id).

Only messages written by the bot itself are ever read this way, so nobody can forge a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.chat import MessageLinks
from bot.text import DISCORD_MESSAGE_LIMIT, split_for_discord

__all__ = [
    "ANSWER_MAX_CHARS",
    "RelayedPost",
    "format_relayed",
    "parse_relayed",
]

#: A modal paragraph holds at most 4,000 characters; longer answers are split over messages.
ANSWER_MAX_CHARS = 4000

#: Read back as each platform shows it: Discord keeps ``**bold**`` and numeric ids; Slack
#: (``slackapp.mrkdwn``) turns it into ``*bold*`` and its member ids are ``U…``/``W…``.
#: The link is read by the platform's ``MessageLinks`` (Slack may show it as ``<url>``).
_HEADER = re.compile(
    r"\A\*\*?(?P<kind>Answer|Reply) from <@!?(?P<user>\d+|[UW][A-Z0-9]+)>\*\*?"
    r"(?: to (?P<link><?https?://\S+?>?))?"
    r"(?: \((?P<part>\d+)/(?P<parts>\d+)\))?\n"
)
_PART_SUFFIX_ROOM = len(" (99/99)")


@dataclass(frozen=True)
class RelayedPost:
    """Who a bot-posted answer belongs to, the message it replies to, and the student's text."""

    author_platform_id: str
    parent_message_id: str | None
    body: str


def _header(user_id: str, reply_link: str | None) -> str:
    if reply_link:
        return f"**Reply from <@{user_id}>** to {reply_link}"
    return f"**Answer from <@{user_id}>**"


def format_relayed(user_id: str, text: str, *, reply_link: str | None = None) -> list[str]:
    """The messages to post for a student's answer: each starts with the header naming them."""
    header = _header(user_id, reply_link)
    room = DISCORD_MESSAGE_LIMIT - len(header) - _PART_SUFFIX_ROOM - 1
    parts = split_for_discord(text, room)
    if len(parts) == 1:
        return [f"{header}\n{parts[0]}"]
    return [f"{header} ({i}/{len(parts)})\n{part}" for i, part in enumerate(parts, start=1)]


def parse_relayed(content: str, links: MessageLinks | None = None) -> RelayedPost | None:
    """The student behind a message the bot posted for them, or None for the bot's own text;
    the message it replies to as ``links`` reads the header's link (None: not read)."""
    match = _HEADER.match(content)
    if match is None:
        return None
    link = match["link"]
    return RelayedPost(
        author_platform_id=match["user"],
        parent_message_id=links.message_id(link) if link and links is not None else None,
        body=content[match.end() :],
    )

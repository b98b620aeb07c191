"""Slack's message links: permalinks (pure: the discussion writer process unpickles a
``SlackLinks`` without importing slack_sdk).

A permalink looks like ``https://<workspace>.slack.com/archives/C0123ABCD/p1700000000123456``,
with ``?thread_ts=...&cid=...`` for a reply in a thread; the message it names is ts
``1700000000.123456`` of channel ``C0123ABCD``, the core's id ``"C0123ABCD/1700000000.123456"``
(``slackapp.chat.message_id``). Slack shows a link in a message's text as ``<url>`` or
``<url|label>``; either is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PERMALINK = re.compile(
    r"\A<?https?://[^\s/]+/archives/(?P<channel>[A-Z0-9]+)/p(?P<sec>\d{10})(?P<micro>\d{6})"
    r"(?:[?#][^\s|>]*)?(?:\|[^>]*)?>?\Z"
)
#: The core's own id, pasted as is: "C0123ABCD/1700000000.123456".
_MESSAGE_ID = re.compile(r"\A(?P<channel>[A-Z0-9]+)/(?P<ts>\d{10}\.\d{6})\Z")


@dataclass(frozen=True)
class SlackLinks:
    """``bot.chat.MessageLinks`` for one workspace (``url``: auth.test's, ending in "/")."""

    url: str = "https://slack.com/"

    def message_id(self, text: str) -> str | None:
        text = text.strip()
        found = _PERMALINK.match(text)
        if found is not None:
            return f"{found['channel']}/{found['sec']}.{found['micro']}"
        bare = _MESSAGE_ID.match(text)
        return f"{bare['channel']}/{bare['ts']}" if bare is not None else None

    def link(self, guild_id: str | None, channel_id: str, message_id: str) -> str:
        """The permalink; ``channel_id`` a thread ("<channel>/<thread ts>") adds where the
        reply is, as Slack's own permalinks of replies do."""
        channel, _, ts = message_id.rpartition("/")
        where, _, thread_ts = channel_id.partition("/")
        channel = channel or where
        link = f"{self.url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link

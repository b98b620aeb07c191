"""Discord's message links (pure: the discussion writer process unpickles ``DISCORD_LINKS``
without importing discord.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: "https://discord.com/channels/<guild>/<channel>/<message>", or the bare message id.
_LINK = re.compile(r"(?:/channels/(?:\d+|@me)/\d+/)?(\d{5,25})/?\s*$")


@dataclass(frozen=True)
class DiscordLinks:
    """``bot.chat.MessageLinks`` for Discord: a message id is its snowflake."""

    base: str = "https://discord.com"

    def message_id(self, text: str) -> str | None:
        match = _LINK.search(text.strip())
        return match.group(1) if match is not None else None

    def link(self, guild_id: str | None, channel_id: str, message_id: str) -> str:
        return f"{self.base}/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


DISCORD_LINKS = DiscordLinks()

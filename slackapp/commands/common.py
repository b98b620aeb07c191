"""What several Slack command modules need: a file the caller shared (a command cannot carry
one) and "who was told" in Slack's words; ``member`` and ``send_file`` are the table's.

Parsing and rendering only: every rule stays in the services the handlers call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp

from bot.chat import ChatError, ChatErrorKind
from bot.delivery import SLACK, Delivery, told_sentence, told_them
from bot.errors import UserError
from slackapp.commands.table import Call, member, send_file

__all__ = [
    "member",
    "send_file",
    "shared_file",
    "told_all",
    "told_one",
]


def told_one(delivery: Delivery) -> str:
    return told_them(delivery, SLACK)


def told_all(delivery: Delivery, noun: str, nouns: str, done: str) -> str:
    return told_sentence(delivery, noun, nouns, done, SLACK)


#: A file's id, alone or inside its permalink (``.../files/U123/F0ABC/grades.csv``).
_FILE_ID = re.compile(r"(?:^|/)(F[A-Z0-9]{6,})(?:/|$)")


@dataclass(frozen=True)
class SharedFile:
    """A file the caller shared on Slack first (a command cannot carry one)."""

    filename: str
    size: int
    url: str
    token: str
    mimetype: str = ""

    async def read(self, max_bytes: int) -> bytes | None:
        """Its bytes (the bot's token on ``url_private``); None when larger than allowed."""
        if self.size > max_bytes:
            return None
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url, headers=headers) as response,
        ):
            if response.status != 200:
                raise UserError("Slack would not hand over that file; share it again and retry.")
            data = await response.content.read(max_bytes + 1)
        return None if len(data) > max_bytes else data

    async def read_all(self, max_bytes: int) -> bytes:
        """Its bytes, for a service that checked ``size`` itself (it grew since: refused)."""
        data = await self.read(max_bytes)
        if data is None:
            raise UserError(f"That file is larger than {max_bytes // (1024 * 1024)} MB.")
        return data

    @property
    def content_type(self) -> str | None:
        return self.mimetype or None


async def shared_file(call: Call, raw: str, *, option: str = "file") -> SharedFile:
    """The file an option names by its link (Slack's "Copy link to file") or id: the caller's
    own upload, e.g. into their direct messages with the bot. One sentence otherwise."""
    found = _FILE_ID.search(raw.strip().strip("<>").split("|")[0])
    how = f"share the file with me first (drag it into our DM), then give {option}:<its link>."
    if found is None:
        raise UserError(f"`{option}` must be a link to a file you shared on Slack: {how}")
    chat = call.services.chat
    try:
        info = (await chat._call("files.info", file=found.group(1))).get("file") or {}
    except ChatError as exc:
        if exc.kind is ChatErrorKind.NOT_FOUND or exc.detail == "file_not_found":
            raise UserError(f"`{option}`: no such file on Slack; {how}") from None
        raise
    if str(info.get("user")) != call.user.platform_user_id:
        raise UserError(f"`{option}`: that file was shared by someone else; {how}")
    return SharedFile(
        filename=str(info.get("name") or "file"),
        size=int(info.get("size") or 0),
        url=str(info.get("url_private_download") or info.get("url_private")),
        token=str(chat.client.token or ""),
        mimetype=str(info.get("mimetype") or ""),
    )

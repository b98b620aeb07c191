"""``/privacy`` on Slack: a person's data export (to their DM: Slack's private answers hold no
files), an erasure request, and an admin's erasure, as ``cogs/gradebook/cog.py`` does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.gradebook import privacy
from slackapp.commands.common import send_file, sent_to
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand

#: ``<@U123|name>`` as Slack writes a mention: the member id is what the roster holds.
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


async def export(call: Call, values: Mapping[str, Any]) -> str:
    file = await call.as_caller(privacy.export_personal_data, now=call.now)
    await send_file(call, file.filename, file.data, file.summary)
    return f"{file.summary}\n{sent_to(file.filename)}"


async def erase(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(privacy.request_erasure, now=call.now)
    return result.text


async def erase_confirm(call: Call, values: Mapping[str, Any]) -> str:
    ref = str(values["person"]).strip()
    mention = _MENTION.fullmatch(ref)
    result = await call.as_caller(
        privacy.confirm_erasure,
        mention.group(1) if mention else ref,
        values.get("reason"),
        now=call.now,
    )
    return result.text


COMMANDS: tuple[SlackCommand, ...] = (
    SlackCommand(Shape(("privacy", "export")), export),
    SlackCommand(Shape(("privacy", "erase")), erase),
    SlackCommand(
        Shape(
            ("privacy", "erase-confirm"),
            (
                Option("person", "Student number, Slack handle or member id", required=True),
                Option("reason", "Why (kept in the audit trail)"),
            ),
        ),
        erase_confirm,
    ),
)

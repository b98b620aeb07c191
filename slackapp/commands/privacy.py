"""``/privacy`` on Slack: an erasure request and an admin's erasure, as
``cogs/gradebook/cog.py`` does (the data export is in the table)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.delivery import SLACK
from bot.gradebook import privacy
from slackapp.commands.parse import Option, Shape
from slackapp.commands.table import Call, SlackCommand

#: ``<@U123|name>`` as Slack writes a mention: the member id is what the roster holds.
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


async def erase(call: Call, values: Mapping[str, Any]) -> str:
    result = await call.as_caller(privacy.request_erasure, now=call.now, platform=SLACK)
    return result.text


async def erase_confirm(call: Call, values: Mapping[str, Any]) -> str:
    ref = str(values["person"]).strip()
    mention = _MENTION.fullmatch(ref)
    result = await call.as_caller(
        privacy.confirm_erasure,
        mention.group(1) if mention else ref,
        values.get("reason"),
        now=call.now,
        platform=SLACK,
    )
    return result.text


COMMANDS: tuple[SlackCommand, ...] = (
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

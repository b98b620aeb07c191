"""``/dashboard`` on Slack: a sign-in link to the web dashboard by direct message, as
``cogs/dashboard/cog.py`` does (the web pages decide what each person may see)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.dashboard.messages import request_link
from slackapp.commands.parse import Shape
from slackapp.commands.table import Call, SlackCommand

log = logging.getLogger(__name__)


async def dashboard(call: Call, values: Mapping[str, Any]) -> str:
    settings = call.services.settings
    link = await call.in_context(
        request_link,
        now=call.now,
        secret=settings.dashboard_secret.get_secret_value() if settings.dashboard_secret else None,
        public_url=settings.public_url,
    )
    delivery = await call.services.outbox.delivery([link.message_key])
    if delivery.missed:
        log.info("dashboard link DM to %s failed: %s", call.user.platform_user_id, delivery.missed)
        # Only the caller sees an ephemeral answer, so the link can go there instead.
        return (
            "I could not send you a direct message, so here is your link (works once, "
            f"for 10 minutes; do not share it):\n{link.url}"
        )
    if delivery.pending or not delivery.told:
        return (
            "Sending you a sign-in link by direct message is still under way. It works "
            "once, within 10 minutes; if none arrives, type /dashboard again."
        )
    return "I sent you a sign-in link by direct message. It works once, within 10 minutes."


COMMANDS: tuple[SlackCommand, ...] = (SlackCommand(Shape(("dashboard",)), dashboard),)

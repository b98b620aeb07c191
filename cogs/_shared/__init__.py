"""What every cog shares: one service call answered privately (``base``: ``FeatureCog``,
``forward``), each command's declaration from one table (``declare``: ``commands.toml``), the
command context, private replies in chunks, the generic failure text, guarded buttons and
forms, and how a delivery count reads.

Not an extension (the leading underscore keeps ``discover_cogs`` away from it).
"""

from __future__ import annotations

from cogs._shared.context import command_context, guild_key
from cogs._shared.delivery import told_sentence, told_them
from cogs._shared.forms import CheckedModal, labelled
from cogs._shared.guards import PersistentButton, guarded
from cogs._shared.replies import (
    GENERIC_FAILURE,
    NO_PINGS,
    defer_private,
    reply_private,
    send_long,
    send_parts,
    send_private,
)

__all__ = [
    "GENERIC_FAILURE",
    "NO_PINGS",
    "CheckedModal",
    "PersistentButton",
    "command_context",
    "defer_private",
    "guarded",
    "guild_key",
    "labelled",
    "reply_private",
    "send_long",
    "send_parts",
    "send_private",
    "told_sentence",
    "told_them",
]

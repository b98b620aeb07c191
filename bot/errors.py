"""Domain errors: each carries one clear, actionable sentence safe to show to the user.

Adapters (Discord cogs, the CLI, later Slack) map these to a friendly reply; anything else is
unexpected, logged with its traceback, and the user gets a generic apology instead.
"""

from __future__ import annotations

import unicodedata

#: How much of a user's text a refusal echoes: enough to recognise it, short enough that the
#: sentence stays one line (and far inside Discord's 2,000-character message limit).
ECHO_LIMIT = 60


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """A user's value quoted for a reply: one line, control characters escaped, capped."""
    text = " ".join(str(value)[: limit * 4].split())
    flat = "".join(
        f"\\x{ord(ch):02x}" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text
    )
    if len(flat) > limit or len(str(value)) > limit * 4:
        flat = flat[: limit - 1] + "…"
    return f"'{flat}'"


class UserError(Exception):
    """Bad input or a refused action: the message is shown to the user as is."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class PermissionDenied(UserError):
    """The caller's role (from the bot's own roster) does not allow this action."""


class NotFound(UserError):
    """Something the user named does not exist (a module code, a prompt id...)."""

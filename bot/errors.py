"""Domain errors: each carries one clear, actionable sentence safe to show to the user.

Adapters (Discord cogs, the CLI, later Slack) map these to a friendly reply; anything else is
unexpected, logged with its traceback, and the user gets a generic apology instead.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused action: the message is shown to the user as is."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class PermissionDenied(UserError):
    """The caller's role (from the bot's own roster) does not allow this action."""


class NotFound(UserError):
    """Something the user named does not exist (a module code, a prompt id...)."""

"""Forms (modals): every text box sits in a ``ui.Label`` (discord.py 2.6+; ``TextInput.label``
is deprecated) and its typed text passes the same checks as command options before
``on_submit`` runs."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_app import send_ephemeral
from bot.input_checks import text_problem

__all__ = ["CheckedModal", "labelled"]


def labelled(text: str, box: discord.ui.TextInput[Any]) -> discord.ui.Label[Any]:
    """A text box under its label (Discord shows at most 45 characters of it)."""
    return discord.ui.Label(text=text[:45], component=box)


class CheckedModal(discord.ui.Modal):
    """A form whose typed text passes the same checks as command options (no NUL or other
    control characters, something visible) before ``on_submit`` runs."""

    def __init__(
        self, title: str, key: str, opened_by: discord.Interaction, *, timeout: float
    ) -> None:
        # discord.py keys open forms by custom id alone: ``key`` and the opening interaction
        # make it unique per opening.
        super().__init__(title=title[:45], custom_id=f"{key}:{opened_by.id}", timeout=timeout)

    def add_box(self, text: str, box: discord.ui.TextInput[Any]) -> None:
        """Add a text box under its label."""
        self.add_item(labelled(text, box))

    def paragraph(self, text: str, custom_id: str, **box: Any) -> discord.ui.TextInput[Any]:
        """A long-text box under its label (``box``: max_length, default, placeholder...)."""
        added: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph, custom_id=custom_id, **box
        )
        self.add_box(text, added)
        return added

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        for item in self.children:
            if isinstance(item, discord.ui.Label) and isinstance(
                item.component, discord.ui.TextInput
            ):
                problem = text_problem(item.text, item.component.value)
                if problem is not None:
                    await send_ephemeral(interaction, problem)
                    return False
        return True

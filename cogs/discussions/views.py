"""The discussion prompts' Answer button and forms (the prompt's long text, a student's answer).

The Answer button's custom id is ``jobs.ANSWER_PREFIX<prompt>``, a ``DynamicItem`` so it works
after restarts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.discussions import jobs
from bot.discussions.answers import ANSWER_MAX_CHARS
from bot.discussions.render import BODY_MAX_CHARS
from cogs._shared.forms import CheckedModal
from cogs._shared.guards import PersistentButton, cog_of, guarded

if TYPE_CHECKING:
    from cogs.discussions.cog import Discussions

__all__ = ["AnswerButton", "AnswerModal", "PromptTextModal"]


def _cog(interaction: discord.Interaction) -> Discussions:
    from cogs.discussions.cog import Discussions

    return cog_of(interaction, Discussions)


class AnswerButton(PersistentButton, prefix=jobs.ANSWER_PREFIX):
    """The Answer button under a "post before you see others" prompt (the prompt's id);
    survives restarts."""

    button_label = "Answer"
    button_style = discord.ButtonStyle.primary

    async def act(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).open_answer_form(interaction, self.item_id)


class PromptTextModal(CheckedModal):
    """The prompt's long text, typed in a form (a command option holds one line)."""

    def __init__(
        self,
        submit: Callable[[discord.Interaction, str], Awaitable[None]],
        *,
        opened_by: discord.Interaction,
        default: str = "",
        title: str = "Discussion prompt text",
    ) -> None:
        super().__init__(title, "cb:discussions:text", opened_by, timeout=1800)
        self._submit = submit
        self.text = self.paragraph(
            "Prompt text (what students answer)",
            "text",
            max_length=BODY_MAX_CHARS,
            default=default or None,
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await guarded(
            interaction, lambda: self._submit(interaction, self.text.value), name="form:prompt"
        )


class AnswerModal(CheckedModal):
    """A student's answer; the bot posts it for them (private-answer prompts, late answers)."""

    def __init__(self, prompt_id: int, title: str, opened_by: discord.Interaction) -> None:
        key = f"cb:discussions:answer-form:{prompt_id}"
        super().__init__(f"Answer: {title}", key, opened_by, timeout=3600)
        self.prompt_id = prompt_id
        self.answer = self.paragraph("Your answer", "answer", max_length=ANSWER_MAX_CHARS)
        self.reply_to: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            style=discord.TextStyle.short, custom_id="reply_to", required=False, max_length=200
        )
        self.add_box("Replying to (link of a classmate's post)", self.reply_to)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await guarded(
            interaction,
            lambda: _cog(interaction).post_answer(
                interaction, self.prompt_id, self.answer.value, self.reply_to.value or None
            ),
            name="form:answer",
        )

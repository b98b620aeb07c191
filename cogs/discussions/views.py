"""The discussion prompts' Answer button and forms (the prompt's long text, a student's answer).

The Answer button's custom id is ``jobs.ANSWER_PREFIX<prompt>``, a ``DynamicItem`` so it works
after restarts.
"""

from __future__ import annotations

import re
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


class AnswerButton(PersistentButton, template=re.escape(jobs.ANSWER_PREFIX) + r"(?P<id>\d+)"):
    """The Answer button under a "post before you see others" prompt; survives restarts."""

    def __init__(self, prompt_id: int) -> None:
        super().__init__(
            f"{jobs.ANSWER_PREFIX}{prompt_id}", label="Answer", style=discord.ButtonStyle.primary
        )
        self.prompt_id = prompt_id

    async def act(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).open_answer_form(interaction, self.prompt_id)


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
        # discord.py keys open modals by custom_id alone: make it unique per opening.
        super().__init__(
            title=title[:45], custom_id=f"cb:discussions:text:{opened_by.id}", timeout=1800
        )
        self._submit = submit
        self.text: discord.ui.TextInput[PromptTextModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            custom_id="text",
            max_length=BODY_MAX_CHARS,
            default=default or None,
        )
        self.add_box("Prompt text (what students answer)", self.text)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await guarded(
            interaction, lambda: self._submit(interaction, self.text.value), name="form:prompt"
        )


class AnswerModal(CheckedModal):
    """A student's answer; the bot posts it for them (private-answer prompts, late answers)."""

    def __init__(self, prompt_id: int, title: str, opened_by: discord.Interaction) -> None:
        super().__init__(
            title=f"Answer: {title}"[:45],
            custom_id=f"cb:discussions:answer-form:{prompt_id}:{opened_by.id}",
            timeout=3600,
        )
        self.prompt_id = prompt_id
        self.answer: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            custom_id="answer",
            max_length=ANSWER_MAX_CHARS,
        )
        self.reply_to: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            style=discord.TextStyle.short,
            custom_id="reply_to",
            required=False,
            max_length=200,
        )
        self.add_box("Your answer", self.answer)
        self.add_box("Replying to (link of a classmate's post)", self.reply_to)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await guarded(
            interaction,
            lambda: _cog(interaction).post_answer(
                interaction, self.prompt_id, self.answer.value, self.reply_to.value or None
            ),
            name="form:answer",
        )

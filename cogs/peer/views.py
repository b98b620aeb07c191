"""The peer review button (sent by DM with each review request) and the rubric form.

The button's custom id is ``cb:peer:review:<assignment>``, a ``DynamicItem`` so it works after
restarts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.peer import service
from bot.peer.engine import REVIEW_BUTTON, review_custom_id
from cogs._shared.forms import CheckedModal
from cogs._shared.guards import PersistentButton, cog_of, guarded

if TYPE_CHECKING:
    from cogs.peer.cog import Peer

__all__ = ["ReviewButton", "ReviewModal"]


def _cog(interaction: discord.Interaction) -> Peer:
    from cogs.peer.cog import Peer

    return cog_of(interaction, Peer)


class ReviewButton(PersistentButton, template=r"cb:peer:review:(?P<id>\d+)"):
    """Opens the review form of one assignment; survives restarts."""

    def __init__(self, assignment_id: int, label: str = REVIEW_BUTTON) -> None:
        super().__init__(
            review_custom_id(assignment_id), label=label, style=discord.ButtonStyle.primary
        )
        self.assignment_id = assignment_id

    async def act(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).open_review(interaction, self.assignment_id)


class ReviewModal(CheckedModal):
    """The rubric as a form: one score box per criterion and the comment."""

    def __init__(
        self,
        form: service.ReviewForm,
        opened_by: discord.Interaction,
        draft: tuple[dict[str, str], str] | None,
    ) -> None:
        # discord.py keys open modals by custom_id alone: unique per opening.
        super().__init__(
            title=f"Review of Submission {form.label}"[:45],
            custom_id=f"cb:peer:form:{form.assignment_id}:{opened_by.id}",
            timeout=3600,
        )
        self.form = form
        scores, comments = draft if draft is not None else (form.scores, form.comments)
        self.scores: list[tuple[str, discord.ui.TextInput[ReviewModal]]] = []
        for i, c in enumerate(form.criteria):
            box: discord.ui.TextInput[ReviewModal] = discord.ui.TextInput(
                custom_id=f"score{i}",
                placeholder=(c.descriptor or f"a number from {c.low} to {c.high}")[:100],
                default=scores.get(c.name) or None,
                max_length=12,
            )
            self.add_box(c.label(), box)
            self.scores.append((c.name, box))
        self.comments: discord.ui.TextInput[ReviewModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            custom_id="comments",
            placeholder="What works well, and what would make it better?",
            default=comments or None,
            max_length=service.MAX_COMMENT,
        )
        self.add_box("Comments for the author", self.comments)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await guarded(
            interaction,
            lambda: _cog(interaction).save_review(interaction, self),
            name="form:review",
        )

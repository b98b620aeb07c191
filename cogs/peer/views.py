"""The peer review button (sent by DM with each review request) and the rubric form.

The button's custom id is ``cb:peer:review:<assignment>``, a ``DynamicItem`` so it works after
restarts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.peer import service
from bot.peer.policy import REVIEW_BUTTON, REVIEW_PREFIX
from cogs._shared.forms import CheckedModal
from cogs._shared.guards import PersistentButton, cog_of, guarded

if TYPE_CHECKING:
    from cogs.peer.cog import Peer

__all__ = ["ReviewButton", "ReviewModal"]


def _cog(interaction: discord.Interaction) -> Peer:
    from cogs.peer.cog import Peer

    return cog_of(interaction, Peer)


class ReviewButton(PersistentButton, prefix=REVIEW_PREFIX):
    """Opens the review form of one assignment (its id); survives restarts."""

    button_label = REVIEW_BUTTON
    button_style = discord.ButtonStyle.primary

    async def act(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).open_review(interaction, self.item_id)


class ReviewModal(CheckedModal):
    """The rubric as a form: one score box per criterion and the comment."""

    def __init__(
        self,
        form: service.ReviewForm,
        opened_by: discord.Interaction,
        draft: tuple[dict[str, str], str] | None,
    ) -> None:
        title = f"Review of Submission {form.label}"
        super().__init__(title, f"cb:peer:form:{form.assignment_id}", opened_by, timeout=3600)
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
        self.comments = self.paragraph(
            "Comments for the author",
            "comments",
            placeholder="What works well, and what would make it better?",
            default=comments or None,
            max_length=service.MAX_COMMENT,
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await guarded(
            interaction,
            lambda: _cog(interaction).save_review(interaction, self),
            name="form:review",
        )

"""Buttons and forms are not app commands, so the command tree's error handler never sees
what they raise: ``guarded`` maps a refusal to its private sentence and anything else to the
generic failure text, and counts the outcome like a command."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Self, TypeVar, cast

import discord
from discord.ext import commands

from bot.discord_app import CohortBot
from bot.errors import UserError
from cogs._shared.replies import GENERIC_FAILURE, reply_private

log = logging.getLogger(__name__)

__all__ = ["PersistentButton", "cog_of", "guarded"]

C = TypeVar("C", bound=commands.Cog)


async def guarded(
    interaction: discord.Interaction, work: Callable[[], Awaitable[None]], *, name: str
) -> None:
    """Run a button's or form's work; a refusal or a failure becomes one private sentence."""
    bot = interaction.client
    try:
        await work()
    except UserError as exc:
        _count(bot, name, "refused")
        await reply_private(interaction, exc.sentence)
        return
    except Exception:
        _count(bot, name, "error")
        log.exception("%s failed", name)
        await reply_private(interaction, GENERIC_FAILURE)
        return
    _count(bot, name, "ok")


def cog_of(interaction: discord.Interaction, kind: type[C]) -> C:
    """The loaded cog of class ``kind``: where a button or form hands its work."""
    bot = interaction.client
    assert isinstance(bot, commands.Bot)
    cog = bot.get_cog(kind.__cog_name__)
    assert isinstance(cog, kind)
    return cog


def _count(bot: Any, name: str, outcome: str) -> None:
    if isinstance(bot, CohortBot):
        bot.metrics.commands.labels(command=name, outcome=outcome).inc()


class PersistentButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    # The base matches no custom id; each subclass gives its own template.
    template=r"(?!)",
):
    """A button routed by its custom id, so it works on messages posted before a restart.

    A subclass names its ``prefix`` (the custom id is the prefix and the item's id, the
    ``template`` follows), its ``button_label`` and ``button_style``, and ``act``; the click
    runs ``act`` under ``guarded``. One built from more than the id gives its own ``template``
    and ``custom_id`` and overrides ``from_match``.
    """

    prefix: ClassVar[str] = ""
    button_label: ClassVar[str] = ""
    button_style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary

    def __init_subclass__(cls, *, prefix: str | None = None, **kwargs: Any) -> None:
        if prefix is not None:
            cls.prefix = prefix
            kwargs.setdefault("template", re.escape(prefix) + r"(?P<id>\d+)")
        super().__init_subclass__(**kwargs)

    def __init__(
        self, item_id: int, *, label: str | None = None, custom_id: str | None = None
    ) -> None:
        self.item_id = item_id
        super().__init__(
            discord.ui.Button(
                label=label or self.button_label,
                style=self.button_style,
                custom_id=custom_id or f"{self.prefix}{item_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls.from_match(match)

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Self:
        """The button again from its custom id: ``cls(<id>)``."""
        return cast(Self, cast(Any, cls)(int(match["id"])))

    @property
    def metric_name(self) -> str:
        """``button:<action>`` from ``cb:<feature>:<action>:<id>``."""
        return f"button:{self.custom_id.split(':')[2]}"

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, lambda: self.act(interaction), name=self.metric_name)

    async def act(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError

"""``/teams`` on Discord: tutors set a survey, form teams (a dry run first), move students,
re-form after a dropout, keep pairs apart or together and export; everyone sees their team.

Thin adapter: each command opens the roster-checked context, calls one function of
``bot.teams.service`` and renders its answer privately. Confirmed teams get their private
threads through ``bot.teams.threads`` (the chat port), after the confirming transaction.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_chat import chat_user
from bot.teams import service
from bot.teams.threads import add_to_thread, create_teams
from cogs._shared.base import FeatureCog
from cogs._shared.context import command_context
from cogs._shared.declare import command
from cogs._shared.replies import defer_private, reply_private, send_long, send_private
from cogs.teams.views import ConfirmTeams, SurveyForm, SurveyMenus, confirm_view


class Teams(FeatureCog, commands.Cog):
    """Project teams with guaranteed shared hours."""

    teams = app_commands.Group(name="teams", description="Project teams across time zones")

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ConfirmTeams)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ConfirmTeams)

    # ------------------------------------------------------------------ survey

    @command("teams survey", teams)
    async def survey(self, interaction: discord.Interaction, module: str) -> None:
        result = await self.call(interaction, service.survey, module_code=module)
        if not result.questions:
            await reply_private(interaction, result.render())
            return
        await send_private(
            interaction,
            content=result.render() + "\nChoose your answers below; only your tutors see them.",
            view=SurveyMenus(result),
        )

    @command("teams survey-set", teams)
    async def survey_set(self, interaction: discord.Interaction, module: str) -> None:
        current = await self.call(interaction, service.survey_text, module_code=module)
        await interaction.response.send_modal(SurveyForm(module.upper(), current, interaction))

    # ------------------------------------------------------------------ forming

    @command("teams form", teams)
    async def form(
        self,
        interaction: discord.Interaction,
        module: str,
        size_min: app_commands.Range[int, 1, 12],
        size_max: app_commands.Range[int, 1, 12],
        min_hours: app_commands.Range[float, 0.0, 40.0],
        dry_run: bool = True,
        avoid_previous: bool = True,
    ) -> None:
        await self._propose(
            interaction,
            dry_run,
            service.form,
            module_code=module,
            size_min=size_min,
            size_max=size_max,
            min_hours=min_hours,
            avoid_previous=avoid_previous,
        )

    @command("teams reform", teams)
    async def reform(
        self, interaction: discord.Interaction, module: str, dry_run: bool = True
    ) -> None:
        await self._propose(interaction, dry_run, service.reform, module_code=module)

    async def _propose(
        self,
        interaction: discord.Interaction,
        dry_run: bool,
        plan: Callable[..., Awaitable[service.Proposal]],
        **options: Any,
    ) -> None:
        """Plan teams (``form`` or ``reform``), then show the proposal with a confirm button,
        or create the teams at once when it is not a dry run."""
        await defer_private(interaction)
        proposal = await self.call(interaction, plan, **options)
        if not dry_run:
            await self.create(interaction, proposal.set_id)
            return
        await send_long(interaction, proposal.render())
        await send_private(
            interaction,
            content="Create these teams? Each gets a private thread with its members and you.",
            view=confirm_view(proposal.set_id),
        )

    async def create(self, interaction: discord.Interaction, set_id: int) -> None:
        """Confirm a proposal, then open its team threads (``bot.teams.threads``)."""
        await defer_private(interaction)
        text = await create_teams(
            functools.partial(command_context, self.bot, interaction),
            self.bot.db,
            self.bot.chat,
            self.bot.outbox,
            set_id,
            now=self.now(),
            staff_user_id=str(interaction.user.id),
        )
        await send_private(interaction, content=text)

    # ------------------------------------------------------------------ after forming

    @command("teams show", teams)
    async def show(self, interaction: discord.Interaction, module: str) -> None:
        await self.answer(interaction, service.show, module_code=module)

    @command("teams move", teams)
    async def move(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User,
        team: app_commands.Range[int, 1, 1000],
    ) -> None:
        moved = await self.call(
            interaction,
            service.move,
            module_code=module,
            student=chat_user(student),
            team_number=team,
        )
        text = moved.text
        if moved.thread_id and moved.user_id:
            problem = await add_to_thread(
                self.bot.chat, moved.thread_id, moved.user_id, moved.thread_note
            )
            text += " " + (problem or "They were added to the team's thread.")
        await reply_private(interaction, text)

    @command("teams pair", teams)
    async def pair(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User,
        other: discord.User,
        keep: Literal["apart", "together", "either"],
    ) -> None:
        await self.answer(
            interaction,
            service.set_pair,
            module_code=module,
            first=chat_user(student),
            second=chat_user(other),
            rule=keep,
            send=reply_private,
        )

    @command("teams export", teams)
    async def export(self, interaction: discord.Interaction, module: str) -> None:
        result = await self.call(interaction, service.export, module_code=module)
        await send_private(
            interaction,
            content=result.text,
            file=discord.File(io.BytesIO(result.data), filename=result.filename),
        )

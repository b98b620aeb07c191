"""``/teams`` on Discord: tutors set a survey, form teams (a dry run first), move students,
re-form after a dropout, keep pairs apart or together and export; everyone sees their team.

Thin adapter: each command opens the roster-checked context, calls one function of
``bot.teams.service`` and renders its answer privately. Confirmed teams get their private
threads through ``bot.teams.threads`` (the chat port), after the confirming transaction.
"""

from __future__ import annotations

import functools
import io
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import CohortBot
from bot.discord_chat import chat_user
from bot.teams import service
from bot.teams.threads import add_to_thread, create_teams
from cogs._shared.context import command_context, in_context
from cogs._shared.declare import slash
from cogs._shared.metadata import extras
from cogs._shared.replies import defer_private, reply_private, send_long, send_private
from cogs.teams.views import ConfirmTeams, SurveyForm, SurveyMenus, confirm_view

MODULE = "MATH70097"


def _example(**options: object) -> dict[str, object]:
    """A command's example options (the permission matrix invokes each command with them)."""
    return {"module": MODULE, **options}


class Teams(commands.Cog):
    """Project teams with guaranteed shared hours."""

    teams = app_commands.Group(name="teams", description="Project teams across time zones")

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ConfirmTeams)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ConfirmTeams)

    # ------------------------------------------------------------------ survey

    @slash(
        teams,
        "survey",
        "Answer your module's team survey privately (skills, background, role).",
        extras("student", _example()),
        module="Module code, e.g. MATH70097",
    )
    async def survey(self, interaction: discord.Interaction, module: str) -> None:
        result = await in_context(self.bot, interaction, service.survey, module_code=module)
        if not result.questions:
            await reply_private(interaction, result.render())
            return
        await send_private(
            interaction,
            content=result.render() + "\nChoose your answers below; only your tutors see them.",
            view=SurveyMenus(result),
        )

    @slash(
        teams,
        "survey-set",
        "Set the module's team survey (tutors): a form, one question a line.",
        extras("staff", _example()),
        module="Module code",
    )
    async def survey_set(self, interaction: discord.Interaction, module: str) -> None:
        current = await in_context(self.bot, interaction, service.survey_text, module_code=module)
        await interaction.response.send_modal(SurveyForm(module.upper(), current, interaction))

    # ------------------------------------------------------------------ forming

    @slash(
        teams,
        "form",
        "Form teams sharing enough hours each week (tutors); a dry run first.",
        extras("staff", _example(size_min=3, size_max=4, min_hours=2.0, dry_run=True)),
        module="Module code",
        size_min="Smallest team",
        size_max="Largest team",
        min_hours="Hours in a row every team must share each week, e.g. 3",
        dry_run="Show the teams to you first (default); False creates them at once",
        avoid_previous="Keep apart students who were teammates before (default True)",
    )
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
        await defer_private(interaction)
        proposal = await in_context(
            self.bot,
            interaction,
            service.form,
            module_code=module,
            size_min=size_min,
            size_max=size_max,
            min_hours=min_hours,
            now=self.bot.clock.now(),
            avoid_previous=avoid_previous,
        )
        await self._propose(interaction, proposal, dry_run)

    @slash(
        teams,
        "reform",
        "After a dropout: keep whole teams, place the rest again (tutors).",
        extras("staff", _example(dry_run=True)),
        module="Module code",
        dry_run="Show the teams to you first",
    )
    async def reform(
        self, interaction: discord.Interaction, module: str, dry_run: bool = True
    ) -> None:
        await defer_private(interaction)
        proposal = await in_context(
            self.bot, interaction, service.reform, module_code=module, now=self.bot.clock.now()
        )
        await self._propose(interaction, proposal, dry_run)

    async def _propose(
        self, interaction: discord.Interaction, proposal: service.Proposal, dry_run: bool
    ) -> None:
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
            now=self.bot.clock.now(),
            staff_user_id=str(interaction.user.id),
        )
        await send_private(interaction, content=text)

    # ------------------------------------------------------------------ after forming

    @slash(
        teams,
        "show",
        "Your team and when you can all meet (tutors: every team).",
        extras("member", _example()),
        module="Module code",
    )
    async def show(self, interaction: discord.Interaction, module: str) -> None:
        text = await in_context(
            self.bot, interaction, service.show, module_code=module, now=self.bot.clock.now()
        )
        await send_long(interaction, text)

    @slash(
        teams,
        "move",
        "Move a student to another team; refused if it breaks the shared hours.",
        extras("staff", _example(student="lukasb_92", team=1)),
        module="Module code",
        student="The student",
        team="Team number",
    )
    async def move(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User,
        team: app_commands.Range[int, 1, 1000],
    ) -> None:
        moved = await in_context(
            self.bot,
            interaction,
            service.move,
            module_code=module,
            student=chat_user(student),
            team_number=team,
            now=self.bot.clock.now(),
        )
        text = moved.text
        if moved.thread_id and moved.user_id:
            problem = await add_to_thread(
                self.bot.chat, moved.thread_id, moved.user_id, moved.thread_note
            )
            text += " " + (problem or "They were added to the team's thread.")
        await reply_private(interaction, text)

    @slash(
        teams,
        "pair",
        "Keep two students apart or together when teams are formed (tutors).",
        extras("staff", _example(student="lukasb_92", other="meilin.tan", keep="apart")),
        module="Module code",
        student="A student",
        other="Another student",
        keep="apart, together, or either (clears the rule)",
    )
    async def pair(
        self,
        interaction: discord.Interaction,
        module: str,
        student: discord.User,
        other: discord.User,
        keep: Literal["apart", "together", "either"],
    ) -> None:
        text = await in_context(
            self.bot,
            interaction,
            service.set_pair,
            module_code=module,
            first=chat_user(student),
            second=chat_user(other),
            rule=keep,
        )
        await reply_private(interaction, text)

    @slash(
        teams,
        "export",
        "The module's teams as a CSV file (tutors).",
        extras("staff", _example()),
        module="Module code",
    )
    async def export(self, interaction: discord.Interaction, module: str) -> None:
        result = await in_context(self.bot, interaction, service.export, module_code=module)
        await send_private(
            interaction,
            content=result.text,
            file=discord.File(io.BytesIO(result.data), filename=result.filename),
        )

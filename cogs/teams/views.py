"""The teams feature's forms, menus and button.

- ``AvailabilityForm``: weekly free time and zone (``/calendar availability`` with no options);
- ``SurveyForm``: the tutor's questions, one a line;
- ``SurveyMenus``: one select menu per question, answered privately;
- ``ConfirmTeams``: "Create these teams" under a dry run, ``cb:teams:confirm:<set>``, a
  ``DynamicItem`` so it works after a restart.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Self

import discord

from bot.discord_app import CohortBot
from bot.teams import availability as av
from bot.teams import service
from cogs._shared.context import in_context
from cogs._shared.forms import CheckedModal
from cogs._shared.guards import PersistentButton, guarded
from cogs._shared.replies import reply_private

if TYPE_CHECKING:
    from cogs.teams.cog import Teams

__all__ = [
    "AvailabilityForm",
    "ConfirmTeams",
    "SurveyForm",
    "SurveyMenus",
    "availability_command",
]


def _cog(interaction: discord.Interaction) -> Teams:
    from cogs.teams.cog import Teams

    cog = interaction.client.get_cog("Teams")  # type: ignore[attr-defined]
    assert isinstance(cog, Teams)
    return cog


def _bot(interaction: discord.Interaction) -> CohortBot:
    bot = interaction.client
    assert isinstance(bot, CohortBot)
    return bot


async def availability_command(
    bot: CohortBot, interaction: discord.Interaction, times: str | None, zone: str | None
) -> None:
    """``/calendar availability``: set from the options, or open the form prefilled."""
    now = bot.clock.now()
    if times is None and zone is None:
        current = await in_context(bot, interaction, service.availability, now=now)
        await interaction.response.send_modal(AvailabilityForm(current, interaction))
        return
    view = await in_context(
        bot, interaction, service.set_availability, text=times, zone=zone, now=now
    )
    await reply_private(interaction, view.render())


class AvailabilityForm(CheckedModal):
    def __init__(self, current: service.AvailabilityView, opened_by: discord.Interaction) -> None:
        super().__init__(
            title="When are you free each week?",
            custom_id=f"cb:teams:free:{opened_by.id}",
            timeout=1800,
        )
        self.times: discord.ui.TextInput[AvailabilityForm] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            custom_id="times",
            default=current.text.replace("; ", "\n"),
            placeholder=av.EXAMPLE,
            max_length=1000,
        )
        self.add_box("Free times, in your own time zone", self.times)
        self.zone: discord.ui.TextInput[AvailabilityForm] = discord.ui.TextInput(
            custom_id="zone", default=current.zone, max_length=64
        )
        self.add_box("Your time zone (e.g. Asia/Tokyo)", self.zone)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async def work() -> None:
            bot = _bot(interaction)
            view = await in_context(
                bot,
                interaction,
                service.set_availability,
                text=self.times.value,
                zone=self.zone.value,
                now=bot.clock.now(),
            )
            await reply_private(interaction, view.render())

        await guarded(interaction, work, name="form:availability")


class SurveyForm(CheckedModal):
    def __init__(self, module_code: str, current: str, opened_by: discord.Interaction) -> None:
        super().__init__(
            title=f"Team survey for {module_code}"[:45],
            custom_id=f"cb:teams:survey:{opened_by.id}",
            timeout=1800,
        )
        self.module_code = module_code
        self.questions: discord.ui.TextInput[SurveyForm] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            custom_id="questions",
            default=current or None,
            placeholder=service.SURVEY_EXAMPLE,
            max_length=2000,
        )
        self.add_box("One question a line: Question: a, b, c", self.questions)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async def work() -> None:
            bot = _bot(interaction)
            survey = await in_context(
                bot,
                interaction,
                service.set_survey,
                module_code=self.module_code,
                text=self.questions.value,
                now=bot.clock.now(),
            )
            await reply_private(interaction, survey.render())

        await guarded(interaction, work, name="form:survey")


class _QuestionMenu(discord.ui.Select["SurveyMenus"]):
    def __init__(self, question: service.Question, row: int) -> None:
        super().__init__(
            custom_id=f"cb:teams:answer:{question.id}",
            placeholder=question.text[:150],
            options=[
                discord.SelectOption(label=c[:100], value=c[:100], default=c == question.answer)
                for c in question.choices
            ],
            row=row,
        )
        self.question = question

    async def callback(self, interaction: discord.Interaction) -> None:
        async def work() -> None:
            bot = _bot(interaction)
            said = await in_context(
                bot,
                interaction,
                service.answer_survey,
                question_id=self.question.id,
                choice=self.values[0],
                now=bot.clock.now(),
            )
            await reply_private(interaction, said)

        await guarded(interaction, work, name="menu:survey")


class SurveyMenus(discord.ui.View):
    """One menu per question (a survey has at most five: a message holds five rows)."""

    def __init__(self, survey: service.Survey) -> None:
        super().__init__(timeout=1800)
        for row, question in enumerate(survey.questions[:5]):
            self.add_item(_QuestionMenu(question, row))


class ConfirmTeams(PersistentButton, template=r"cb:teams:confirm:(?P<id>\d+)"):
    """Creates the teams of a dry run (the proposal exactly as shown)."""

    def __init__(self, set_id: int) -> None:
        super().__init__(
            f"cb:teams:confirm:{set_id}",
            label="Create these teams",
            style=discord.ButtonStyle.success,
        )
        self.set_id = set_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Self:
        return cls(int(match["id"]))

    async def act(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).create(interaction, self.set_id)


def confirm_view(set_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmTeams(set_id))
    return view

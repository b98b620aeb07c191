"""The teams feature's forms, menus and button.

- ``AvailabilityForm``: weekly free time and zone (``/calendar availability`` with no options);
- ``SurveyForm``: the tutor's questions, one a line;
- ``SurveyMenus``: one select menu per question, answered privately;
- ``ConfirmTeams``: "Create these teams" under a dry run, ``cb:teams:confirm:<set>``, a
  ``DynamicItem`` so it works after a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.teams import availability as av
from bot.teams import service
from cogs._shared.base import Service
from cogs._shared.forms import CheckedModal
from cogs._shared.guards import PersistentButton, cog_of, guarded
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

    return cog_of(interaction, Teams)


async def _answer(
    interaction: discord.Interaction, name: str, func: Service, **options: Any
) -> None:
    """A form's or menu's one teams service call, answered in one private message; a refusal
    or failure becomes its private sentence (``guarded``)."""

    async def work() -> None:
        await _cog(interaction).answer(interaction, func, send=reply_private, **options)

    await guarded(interaction, work, name=name)


async def availability_command(
    interaction: discord.Interaction, times: str | None, zone: str | None
) -> None:
    """``/calendar availability``: set from the options, or open the form prefilled."""
    teams = _cog(interaction)
    if times is None and zone is None:
        current = await teams.call(interaction, service.availability)
        await interaction.response.send_modal(AvailabilityForm(current, interaction))
        return
    await teams.answer(
        interaction, service.set_availability, text=times, zone=zone, send=reply_private
    )


class AvailabilityForm(CheckedModal):
    def __init__(self, current: service.AvailabilityView, opened_by: discord.Interaction) -> None:
        super().__init__("When are you free each week?", "cb:teams:free", opened_by, timeout=1800)
        self.times = self.paragraph(
            "Free times, in your own time zone",
            "times",
            default=current.text.replace("; ", "\n"),
            placeholder=av.EXAMPLE,
            max_length=1000,
        )
        self.zone: discord.ui.TextInput[AvailabilityForm] = discord.ui.TextInput(
            custom_id="zone", default=current.zone, max_length=64
        )
        self.add_box("Your time zone (e.g. Asia/Tokyo)", self.zone)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text, zone = self.times.value, self.zone.value
        await _answer(
            interaction, "form:availability", service.set_availability, text=text, zone=zone
        )


class SurveyForm(CheckedModal):
    def __init__(self, module_code: str, current: str, opened_by: discord.Interaction) -> None:
        title = f"Team survey for {module_code}"
        super().__init__(title, "cb:teams:survey", opened_by, timeout=1800)
        self.module_code = module_code
        self.questions = self.paragraph(
            "One question a line: Question: a, b, c",
            "questions",
            default=current or None,
            placeholder=service.SURVEY_EXAMPLE,
            max_length=2000,
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        module_code, text = self.module_code, self.questions.value
        await _answer(
            interaction, "form:survey", service.set_survey, module_code=module_code, text=text
        )


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
        question_id, choice = self.question.id, self.values[0]
        await _answer(
            interaction,
            "menu:survey",
            service.answer_survey,
            question_id=question_id,
            choice=choice,
        )


class SurveyMenus(discord.ui.View):
    """One menu per question (a survey has at most five: a message holds five rows)."""

    def __init__(self, survey: service.Survey) -> None:
        super().__init__(timeout=1800)
        for row, question in enumerate(survey.questions[:5]):
            self.add_item(_QuestionMenu(question, row))


class ConfirmTeams(PersistentButton, prefix="cb:teams:confirm:"):
    """Creates the teams of a dry run (the proposal exactly as shown, by its set's id)."""

    button_label = "Create these teams"
    button_style = discord.ButtonStyle.success

    async def act(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).create(interaction, self.item_id)


def confirm_view(set_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmTeams(set_id))
    return view

"""Slash commands, components, modals and autocomplete through a real discord.py CommandTree."""

from __future__ import annotations

import asyncio
import io

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from cohortlab.localdiscord import Cohort, LocalDiscordServer, Upload
from cohortlab.localdiscord.interactions import InvalidInput
from tests.localdiscord.conftest import default_intents, running

pytestmark = pytest.mark.e2e

MODULES = ["MATH70095", "MATH70096", "STAT60001"]


class ReviewModal(discord.ui.Modal, title="Peer review"):
    score: discord.ui.TextInput[ReviewModal] = discord.ui.TextInput(
        label="Score", custom_id="score"
    )
    comment: discord.ui.TextInput[ReviewModal] = discord.ui.TextInput(
        label="Comment", custom_id="comment", style=discord.TextStyle.paragraph, required=False
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"review saved: {self.score.value} / {self.comment.value or '-'}", ephemeral=True
        )


class ReviewView(discord.ui.View):
    @discord.ui.button(label="Review", custom_id="review:open")
    async def open(
        self, interaction: discord.Interaction, button: discord.ui.Button[ReviewView]
    ) -> None:
        await interaction.response.send_modal(ReviewModal())

    @discord.ui.button(label="Close", custom_id="review:close")
    async def close(
        self, interaction: discord.Interaction, button: discord.ui.Button[ReviewView]
    ) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="Reviews closed", view=None)

    @discord.ui.select(
        custom_id="rsvp",
        options=[discord.SelectOption(label=x, value=x.lower()) for x in ("Yes", "No", "Maybe")],
    )
    async def rsvp(
        self, interaction: discord.Interaction, select: discord.ui.Select[ReviewView]
    ) -> None:
        await interaction.response.edit_message(content=f"RSVP: {select.values[0]}", view=self)


def make_bot() -> commands.Bot:
    bot = commands.Bot(command_prefix="!", intents=default_intents(), guild_ready_timeout=0.1)
    course = app_commands.Group(name="course", description="Course admin")
    prompt = app_commands.Group(name="prompt", description="Graded prompts", parent=course)

    @prompt.command(name="create", description="Create a graded prompt")
    async def create(
        interaction: discord.Interaction,
        module: str,
        weight: int,
        graded: bool,
        student: discord.Member,
        channel: discord.TextChannel,
        role: discord.Role,
        score: float,
        brief: discord.Attachment,
    ) -> None:
        data = await brief.read()
        await interaction.response.send_message(
            f"created {module} w={weight} graded={graded} for {student.name} in #{channel.name} "
            f"role={role.name} score={score} brief={brief.filename}:{data.decode()}",
            ephemeral=True,
        )

    @create.autocomplete("module")
    async def module_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=m, value=m) for m in MODULES if current.upper() in m]

    @app_commands.command(name="slow", description="Defers, then follows up")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="working...")
        await interaction.followup.send("step one done")
        await interaction.edit_original_response(content="all steps done")

    @app_commands.command(name="review", description="Opens a review panel")
    async def review(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Review panel", view=ReviewView())

    @app_commands.command(name="grade", description="Tutors only")
    @app_commands.default_permissions(manage_guild=True)
    async def grade(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("graded", ephemeral=True)

    bot.tree.add_command(course)
    bot.tree.add_command(slow)
    bot.tree.add_command(review)
    bot.tree.add_command(grade)
    return bot


async def synced(bot: commands.Bot, server: LocalDiscordServer, cohort: Cohort) -> None:
    guild = discord.Object(id=cohort.guild.id)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    await server.script.wait_for_commands(names=["course", "slow", "review", "grade"])


async def test_subcommand_group_with_every_option_type_replies_ephemerally(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        tutor, alice, bob = cohort.tutor, cohort.students[0], cohort.students[1]
        handle = await tutor.command(
            "course prompt create",
            module="MATH70095",
            weight=30,
            graded=True,
            student=alice,
            channel=cohort.module("MATH70095"),
            role=cohort.roles["student"],
            score=7.5,
            brief=Upload("brief.txt", b"read chapter 3", "text/plain"),
        )
        reply = await handle.reply(contains="created MATH70095")
        assert reply.content == (
            "created MATH70095 w=30 graded=True for alice in #math70095 role=Student "
            "score=7.5 brief=brief.txt:read chapter 3"
        )
        assert reply.ephemeral
        seen = await tutor.wait_for_ephemeral(contains="created MATH70095")
        assert seen.id == reply.id
        assert alice.ephemerals() == [] and bob.ephemerals() == []
        assert all(m.id != reply.id for m in server.script.messages(tutor.home_channel or 0))
        assert server.unknown_routes == []


async def test_defer_followup_and_edit_original(server: LocalDiscordServer, cohort: Cohort) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        handle = await cohort.student.command("slow")
        await handle.reply(contains="all steps done")
        texts = sorted(m.content for m in handle.messages)
        assert texts == ["all steps done", "step one done"]
        history = [m.content for m in server.script.messages(cohort.general)]
        assert history == ["all steps done", "step one done"]


async def test_button_opens_modal_and_submission_reaches_the_bot(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        panel = await (await cohort.tutor.command("review")).reply(contains="Review panel")
        click = await cohort.student.click(panel, "review:open")
        modal = await click.modal()
        assert modal["title"] == "Peer review"
        submitted = await cohort.student.submit_modal(score="8", comment="clear argument")
        reply = await submitted.reply(contains="review saved")
        assert reply.content == "review saved: 8 / clear argument"
        assert reply.visible_to == cohort.student.id


async def test_modal_refuses_a_missing_required_field(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        panel = await (await cohort.tutor.command("review")).reply(contains="Review panel")
        await (await cohort.student.click(panel, "review:open")).modal()
        with pytest.raises(InvalidInput, match="score"):
            await cohort.student.submit_modal(comment="no score given")


async def test_select_menu_updates_the_message(server: LocalDiscordServer, cohort: Cohort) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        panel = await (await cohort.tutor.command("review")).reply(contains="Review panel")
        chosen = await cohort.student.select(panel, "rsvp", ["maybe"])
        await chosen.response()
        assert server.script.message(panel).content == "RSVP: maybe"
        with pytest.raises(InvalidInput, match="offers"):
            await cohort.student.select(panel, "rsvp", ["perhaps"])


async def test_autocomplete_returns_the_bots_choices(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        choices = await cohort.tutor.autocomplete("course prompt create", "module", "math")
        assert [c["value"] for c in choices] == ["MATH70095", "MATH70096"]


async def test_default_member_permissions_hide_a_command_unless_forced(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        with pytest.raises(PermissionError, match="hides /grade"):
            await cohort.student.command("grade")
        forced = await cohort.student.command("grade", force=True)
        await forced.reply(contains="graded")


async def test_unknown_option_and_bad_choice_are_refused_before_reaching_the_bot(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        with pytest.raises(InvalidInput, match="unknown option"):
            await cohort.tutor.command("slow", colour="red")
        with pytest.raises(InvalidInput, match="required option"):
            await cohort.tutor.command("course prompt create", module="MATH70095")
        assert server.calls_to("/interactions/{interaction_id}/{token}/callback") == []


async def test_answering_after_the_deadline_fails_like_discord(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    server.state.interaction_deadline = 0.2
    bot = commands.Bot(command_prefix="!", intents=default_intents(), guild_ready_timeout=0.1)
    errors: list[Exception] = []

    @bot.tree.command(name="late", description="Answers too late")
    async def late(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.4)
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as exc:
            errors.append(exc)

    async with running(bot, server):
        await bot.tree.sync(guild=None)
        await server.script.wait_for_commands(names=["late"])
        handle = await cohort.student.command("late")
        await server.script.wait_for(lambda: errors, what="the bot's failed late answer")
        assert isinstance(errors[0], discord.NotFound) and errors[0].code == 10062
        assert not handle.interaction.acknowledged


async def test_followups_originals_and_files_in_interaction_responses(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = commands.Bot(command_prefix="!", intents=default_intents(), guild_ready_timeout=0.1)
    fetched: list[str] = []

    @bot.tree.command(name="export", description="Sends the gradebook")
    async def export(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "your marks", file=discord.File(io.BytesIO(b"mark\n68\n"), "marks.csv"), ephemeral=True
        )
        original = await interaction.original_response()
        fetched.append(original.content)
        await interaction.followup.send("public note")
        await interaction.followup.send("private note", ephemeral=True)

    @bot.tree.command(name="oops", description="Answers then deletes")
    async def oops(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("temporary")
        await interaction.delete_original_response()

    async with running(bot, server):
        await bot.tree.sync()
        await server.script.wait_for_commands(names=["export", "oops"])
        alice = cohort.student
        handle = await alice.command("export")
        await handle.reply(contains="private note")
        marks = await alice.wait_for_ephemeral(contains="your marks")
        assert marks.attachments[0].filename == "marks.csv"
        assert marks.attachments[0].data == b"mark\n68\n"
        assert fetched == ["your marks"]
        assert [m.content for m in alice.ephemerals()] == ["your marks", "private note"]
        assert [m.content for m in server.script.messages(cohort.general)] == ["public note"]
        gone = await alice.command("oops")
        await server.script.wait_for(
            lambda: server.calls_to(
                "/webhooks/{application_id}/{token}/messages/{message_id}", "DELETE"
            ),
            what="delete of the original response",
        )
        assert gone.messages == []
        assert "temporary" not in [m.content for m in server.script.messages(cohort.general)]


async def test_commands_work_in_dms_and_resync_keeps_ids(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = commands.Bot(command_prefix="!", intents=default_intents(), guild_ready_timeout=0.1)

    @bot.tree.command(name="deadlines", description="Your deadlines")
    async def deadlines(interaction: discord.Interaction) -> None:
        where = "DM" if interaction.guild is None else interaction.guild.name
        await interaction.response.send_message(f"deadlines for {interaction.user.name} in {where}")

    async with running(bot, server):
        first = {c.name: c.id for c in await bot.tree.sync()}
        second = {c.name: c.id for c in await bot.tree.sync()}
        assert first == second
        dm = await cohort.student.dm_channel()
        handle = await cohort.student.command("deadlines", where=dm)
        reply = await handle.reply()
        assert reply.content == f"deadlines for {cohort.student.name} in DM"
        assert reply.channel_id == dm.id


async def test_deferred_update_then_edit_changes_the_clicked_message(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = make_bot()
    async with running(bot, server):
        await synced(bot, server, cohort)
        panel = await (await cohort.tutor.command("review")).reply(contains="Review panel")
        click = await cohort.tutor.click(panel, "review:close")
        assert (await click.response()).response_type == 6
        await server.script.wait_for(
            lambda: server.script.message(panel).content == "Reviews closed", what="panel edit"
        )
        assert server.script.message(panel).components == []
        with pytest.raises(InvalidInput, match="no component"):
            await cohort.student.click(panel, "review:open")


class SubmissionModal(discord.ui.Modal, title="Submit coursework"):
    summary: discord.ui.Label[SubmissionModal] = discord.ui.Label(
        text="Summary", component=discord.ui.TextInput(custom_id="summary")
    )
    module: discord.ui.Label[SubmissionModal] = discord.ui.Label(
        text="Module",
        component=discord.ui.Select(
            custom_id="module",
            options=[discord.SelectOption(label=m, value=m) for m in MODULES],
        ),
    )
    work: discord.ui.Label[SubmissionModal] = discord.ui.Label(
        text="File", component=discord.ui.FileUpload(custom_id="work")
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.summary.component, discord.ui.TextInput)
        assert isinstance(self.module.component, discord.ui.Select)
        assert isinstance(self.work.component, discord.ui.FileUpload)
        files = self.work.component.values
        body = (await files[0].read()).decode()
        await interaction.response.send_message(
            f"{self.module.component.values[0]}: {self.summary.component.value} ({body})",
            ephemeral=True,
        )


async def test_label_modal_with_select_and_file_upload(
    server: LocalDiscordServer, cohort: Cohort
) -> None:
    bot = commands.Bot(command_prefix="!", intents=default_intents(), guild_ready_timeout=0.1)

    @bot.tree.command(name="submit", description="Submit coursework")
    async def submit(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(SubmissionModal())

    async with running(bot, server):
        await bot.tree.sync()
        await server.script.wait_for_commands(names=["submit"])
        await (await cohort.student.command("submit")).modal()
        done = await cohort.student.submit_modal(
            summary="bias in loans",
            module="STAT60001",
            work=Upload("essay.txt", b"essay text", "text/plain"),
        )
        reply = await done.reply()
        assert reply.content == "STAT60001: bias in loans (essay text)"

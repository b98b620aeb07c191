"""Calendar adapters: the notice dispatcher, the calendar buttons, and ``/calendar`` for everyone.

The dispatcher is one registered due-work job (``calendar``); after each run it asks the
scheduler to wake it when the next notice is due, so start-up never builds one job per notice.
Buttons use custom ids ``cb:calendar:<action>:<id>`` matched by a ``DynamicItem``, so they work
on messages posted before a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar import personal, service
from bot.calendar.engine import EngineConfig, new_worker_id, run_due
from bot.calendar.timeparse import autocomplete_zones
from bot.db.models import RsvpResponse
from bot.discord_app import GENERIC_FAILURE, NO_PINGS, CohortBot, send_ephemeral
from bot.discord_chat import DiscordChat
from bot.discussions.text import split_for_discord
from bot.errors import UserError
from cogs._shared.context import command_context, reply_private
from cogs._shared.delivery import told_them

log = logging.getLogger(__name__)

JOB = "calendar"
_RSVP = {
    "going": RsvpResponse.GOING,
    "maybe": RsvpResponse.MAYBE,
    "notgoing": RsvpResponse.NOT_GOING,
}


def wake_notices(bot: commands.Bot, at: datetime | None) -> None:
    """Ask the dispatcher to run when something just scheduled becomes due."""
    cog = bot.get_cog("CalendarCog")
    if isinstance(cog, CalendarCog):
        cog.wake(at)


async def deliver_notices_now(bot: commands.Bot) -> None:
    """Send what is due now before replying, so a reply can say who was actually told."""
    cog = bot.get_cog("CalendarCog")
    if isinstance(cog, CalendarCog):
        try:
            await cog._run_due()
        except Exception:
            log.exception("sending due notices failed; the scheduler retries")


async def with_delivery(bot: commands.Bot, text: str, keys: Sequence[str]) -> str:
    """``text`` and whether the one person it concerns was told (sent now, then read back)."""
    await deliver_notices_now(bot)
    assert isinstance(bot, CohortBot)
    async with bot.db.session() as session:
        sent = await service.notices_delivery(session, keys)
    return f"{text} {told_them(sent)}"


async def reply_long(interaction: discord.Interaction, text: str) -> None:
    for part in split_for_discord(text):
        await reply_private(interaction, part)


class CalendarButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"cb:calendar:(?P<action>going|maybe|notgoing|checkin|approve|deny):(?P<id>\d+)",
):
    """RSVP, check-in and extension decisions, routed by custom id (survives restarts)."""

    def __init__(self, action: str, item_id: int) -> None:
        super().__init__(
            discord.ui.Button(label=action, custom_id=f"cb:calendar:{action}:{item_id}")
        )
        self.action = action
        self.item_id = item_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CalendarButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, CohortBot)
        if self.action in ("approve", "deny"):
            # The reply waits for the student's notice to be sent, to say whether it was.
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text, due, keys = await self._act(bot, interaction)
        except UserError as exc:
            bot.metrics.commands.labels(command=f"button:{self.action}", outcome="refused").inc()
            await send_ephemeral(interaction, exc.sentence)
            return
        except Exception:
            bot.metrics.commands.labels(command=f"button:{self.action}", outcome="error").inc()
            log.exception("calendar button %s failed", self.custom_id)
            await send_ephemeral(interaction, GENERIC_FAILURE)
            return
        bot.metrics.commands.labels(command=f"button:{self.action}", outcome="ok").inc()
        wake_notices(bot, due)
        if keys:
            text = await with_delivery(bot, text, keys)
        await send_ephemeral(interaction, text)

    async def _act(
        self, bot: CohortBot, interaction: discord.Interaction
    ) -> tuple[str, datetime | None, tuple[str, ...]]:
        now = bot.clock.now()
        async with command_context(bot, interaction) as ctx:
            if self.action in _RSVP:
                answer = await service.rsvp(
                    ctx.session,
                    ctx.caller,
                    occurrence_id=self.item_id,
                    response=_RSVP[self.action],
                    now=now,
                )
                return answer.render(), answer.next_due_at, ()
            if self.action == "checkin":
                done = await service.check_in(
                    ctx.session,
                    ctx.caller,
                    occurrence_id=self.item_id,
                    now=now,
                    source_ref=f"interaction:{interaction.id}",
                )
                return done.render(), None, ()
            decided = await service.decide_extension(
                ctx.session,
                ctx.caller,
                extension_id=self.item_id,
                approve=self.action == "approve",
                now=now,
            )
            return decided.render(), decided.next_due_at, decided.notice_keys


class CalendarCog(commands.GroupCog, group_name="calendar", group_description="Your calendar"):
    """Upcoming deadlines and tutorials, your time zone, reminders and calendar feed."""

    def __init__(self, bot: CohortBot) -> None:
        self.bot = bot
        self.chat = DiscordChat(bot)
        self.config = EngineConfig(worker_id=new_worker_id())
        self._wake_at: datetime | None = None
        self._idle = asyncio.Event()
        # One run at a time in this process: a command that sends before replying waits for a
        # scheduled run already sending, so what it reads back is what was really sent.
        self._run_lock = asyncio.Lock()
        self._idle.set()
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.scheduler.register(JOB, self._run_due)
        self.bot.add_dynamic_items(CalendarButton)

    async def cog_unload(self) -> None:
        """On shutdown, let a dispatch in progress finish recording what it sent."""
        if not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=10)

    async def _run_due(self) -> None:
        async with self._run_lock:
            await self._run_due_once()

    async def _run_due_once(self) -> None:
        self._idle.clear()
        try:
            report = await run_due(
                self.bot.db,
                self.chat,
                now=self.bot.clock.now(),
                config=self.config,
                clock=self.bot.clock.now,
                on_outcome=lambda outcome: self.bot.metrics.notices.labels(outcome=outcome).inc(),
            )
        finally:
            self._idle.set()
        self.wake(report.next_due_at)

    def wake(self, at: datetime | None) -> None:
        """One pending wake at a time: the earliest moment anything is due."""
        if at is None:
            return
        now = self.bot.clock.now()
        if self._wake_at is not None and now < self._wake_at <= at:
            return
        self._wake_at = at
        delay = max(0.0, (at - now).total_seconds())
        # APScheduler runs on real time; the bot's clock may be the demo's.
        self.bot.scheduler.wake(JOB, at=datetime.now(UTC) + timedelta(seconds=delay))

    @app_commands.command(
        name="upcoming",
        description="Your deadlines (extensions applied) and tutorials for the next four weeks.",
        extras={"audience": "member", "example": {}},
    )
    async def upcoming(self, interaction: discord.Interaction) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await personal.upcoming(ctx.session, ctx.caller, now=self.bot.clock.now())
        await reply_long(interaction, result.render())

    @app_commands.command(
        name="timezone",
        description="Set your time zone (IANA name) for DMs and calendar files.",
        extras={"audience": "member", "example": {"zone": "Asia/Tokyo"}},
    )
    @app_commands.describe(zone="An IANA time zone such as Europe/London or Asia/Tokyo")
    async def timezone(self, interaction: discord.Interaction, zone: str) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await personal.set_timezone(ctx.session, ctx.caller, zone=zone)
        await reply_private(interaction, result.text)

    @timezone.autocomplete("zone")
    async def _zone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in autocomplete_zones(current)]

    @app_commands.command(
        name="reminders",
        description="Turn DM reminders on or off.",
        extras={"audience": "member", "example": {"enabled": False}},
    )
    @app_commands.describe(enabled="True to get DM reminders, False to stop them")
    async def reminders(self, interaction: discord.Interaction, enabled: bool) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await personal.set_reminders(ctx.session, ctx.caller, enabled=enabled)
        await reply_private(interaction, result.text)

    @app_commands.command(
        name="quiet-hours",
        description="DM reminders due in this window wait until it ends; leave both out to clear.",
        extras={"audience": "member", "example": {"start": "22:00", "end": "07:00"}},
    )
    @app_commands.describe(start="Start, 24-hour HH:MM in your zone", end="End, HH:MM")
    async def quiet_hours(
        self,
        interaction: discord.Interaction,
        start: str | None = None,
        end: str | None = None,
    ) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await personal.set_quiet_hours(ctx.session, ctx.caller, start=start, end=end)
        await reply_private(interaction, result.text)

    @app_commands.command(
        name="ics",
        description="Your personal calendar: an .ics file and a private feed address.",
        extras={"audience": "member", "example": {}},
    )
    async def ics(self, interaction: discord.Interaction) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await personal.calendar_file(
                ctx.session,
                ctx.caller,
                ctx.cohort,
                now=self.bot.clock.now(),
                public_url=self.bot.settings.public_url,
            )
        await interaction.response.send_message(
            result.render(),
            file=discord.File(io.BytesIO(result.data), filename=result.filename),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(
        name="reset-feed",
        description="Revoke your calendar feed address and get a new one.",
        extras={"audience": "member", "example": {}},
    )
    async def reset_feed(self, interaction: discord.Interaction) -> None:
        async with command_context(self.bot, interaction) as ctx:
            result = await personal.reset_feed(
                ctx.session, ctx.caller, public_url=self.bot.settings.public_url
            )
        await reply_private(interaction, result.text)

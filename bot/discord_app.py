"""The Discord wiring: the one place (with ``cogs/``) where cohortbot meets discord.py.

``Application`` is the same object for ``cohortbot run``, the demo and the end-to-end tests:
it owns the database, scheduler, web server and the discord.py bot, and starts and stops
them in the right order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.chat import WireMessage
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db.claims import ClaimBatcher, prune_claims
from bot.db.engine import Database
from bot.discord_chat import DiscordChat, wire_from_payload
from bot.discord_endpoints import configure_endpoints
from bot.errors import UserError
from bot.input_checks import cap_message, options_problem
from bot.metrics import Metrics
from bot.outbox import Outbox, add_waker
from bot.runtime import (
    DRAIN_SECONDS,
    OUTBOX_JOB,
    BotCrashed,
    ScheduledWork,
    StartupError,
    build_web_server,
    check_schema,
    quiesce,
)
from bot.runtime import run_until_signal as run_app
from bot.scheduler import Scheduler

log = logging.getLogger(__name__)

__all__ = [
    "DRAIN_SECONDS",
    "OUTBOX_JOB",
    "Application",
    "BotCrashed",
    "CohortBot",
    "StartupError",
]

GENERIC_FAILURE = "Something went wrong on our side; it has been logged. Please try again later."
NO_PINGS = discord.AllowedMentions.none()


def discover_cogs() -> list[str]:
    """Every feature package in ``cogs/`` (its ``__init__`` has ``setup``); shared code starts
    with an underscore."""
    import cogs

    return sorted(
        f"cogs.{info.name}"
        for info in pkgutil.iter_modules(cogs.__path__)
        if not info.name.startswith("_")
    )


def build_intents() -> discord.Intents:
    """What the bot needs: guild structure, members (roster matching), messages and content."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.members = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    return intents


class OptionRefused(UserError, app_commands.AppCommandError):
    """An option no command can accept (bot.input_checks), refused before any command runs."""


class CohortTree(app_commands.CommandTree["CohortBot"]):
    """Routes every slash-command error to the bot's one handler."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Every command's options within what the database and Discord can take, checked once."""
        if interaction.type is discord.InteractionType.application_command:
            problem = options_problem(interaction.data)
            if problem is not None:
                raise OptionRefused(problem)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await self.client.on_app_command_error(interaction, error)


class MessageTap(NamedTuple):
    """Who takes new messages of some channels straight from the gateway (``add_message_tap``)."""

    #: Whether the tap takes this channel's messages (called for every message: a dict lookup).
    watches: Callable[[str], bool]
    #: Takes the message in the flat queued form; must be quick and must not block.
    take: Callable[[WireMessage], None]
    #: The ``WireMessage``'s tag.
    tag: str
    #: Takes the server's messages in channels no tap watches (None: not wanted). The
    #: discussion recorder keeps them a while: the channel may be a thread about to be watched.
    stray: Callable[[WireMessage], None] | None = None


#: How long a command that arrives during start-up waits for its server to be linked.
LINK_WAIT = 1.5


class CohortBot(commands.Bot):
    """discord.py bot carrying the core's services for the cogs to call."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        scheduler: Scheduler,
        http_trace: aiohttp.TraceConfig | None = None,
    ) -> None:
        extra: dict[str, Any] = {"http_trace": http_trace} if http_trace is not None else {}
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=build_intents(),
            allowed_mentions=NO_PINGS,
            help_command=None,
            tree_cls=CohortTree,
            guild_ready_timeout=settings.guild_ready_timeout,
            **extra,
        )
        self.settings = settings
        self.db = db
        self.clock = clock
        self.metrics = metrics
        self.scheduler = scheduler
        self.version = __version__
        self._gateway_up = False
        self._event_counters: dict[str, Any] = {}
        self._message_taps: list[MessageTap] = []
        self.chat = DiscordChat(self)
        #: Everything the bot sends on its own goes through it (``bot.outbox``); drained on stop.
        self.outbox = Outbox(
            db,
            self.chat,
            clock=clock.now,
            limits=DiscordChat.rate_limits,
        )
        #: The platform-free scheduled jobs (``bot.runtime``), the same on Slack.
        self.work = ScheduledWork(
            db=db,
            chat=self.chat,
            outbox=self.outbox,
            scheduler=scheduler,
            clock=clock,
            metrics=metrics,
        )
        self._claiming: set[asyncio.Task[None]] = set()
        self._claims = ClaimBatcher(db)
        self._linked: dict[int, asyncio.Event] = {}
        self._pruned_at: datetime | None = None
        parse = self._connection.parsers["INTERACTION_CREATE"]
        self._connection.parsers["INTERACTION_CREATE"] = lambda data: self._spawn_claim(parse, data)
        create = self._connection.parsers["MESSAGE_CREATE"]
        self._connection.parsers["MESSAGE_CREATE"] = lambda data: self._message_created(
            create, data
        )

    # ------------------------------------------------------------ servers linked to cohorts

    def _link_event(self, guild_id: int) -> asyncio.Event:
        return self._linked.setdefault(guild_id, asyncio.Event())

    def mark_linked(self, guild_id: int) -> None:
        """The server's modules are bound to its channels (start-up link done)."""
        self._link_event(guild_id).set()

    async def until_linked(self, guild_id: int | None) -> None:
        """A command that arrives while the bot is still linking its server to the roster
        (the first seconds after start-up) waits for that, briefly, instead of being told a
        module has no channel; after LINK_WAIT seconds it goes ahead with what is known."""
        if guild_id is None:
            return
        event = self._link_event(guild_id)
        if event.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), LINK_WAIT)

    # ------------------------------------------------------- several processes, one database

    def _spawn_claim(self, parse: Callable[[Any], None], data: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._act_once(parse, data))
        self._claiming.add(task)
        task.add_done_callback(self._claiming.discard)

    async def _act_once(self, parse: Callable[[Any], None], data: Any) -> None:
        """Every process sharing the database gets every interaction (Discord sends each event
        to each session): only the one that claims its id first hands it to discord.py.

        One hook covers commands, autocomplete, buttons and forms. A form's submission is
        claimed only where that form is open: discord.py keeps open forms in the memory of the
        process that showed them, and any other process ignores the submission anyway.
        """
        if not self._handled_here(data):
            parse(data)  # discord.py discards it (at DEBUG)
            return
        try:
            won = await self._claims.claim(f"interaction:{data['id']}", self.clock.now())
        except Exception as exc:  # the database is down: answering beats silence
            log.warning(
                "could not claim interaction %s (%s); handling it here", data.get("id"), exc
            )
            won = True
        if won:
            parse(data)
        else:
            log.debug("interaction %s is handled by another process", data.get("id"))

    def _handled_here(self, data: Any) -> bool:
        store = self._connection._view_store
        if int(data.get("type", 0)) == 5:
            return str(data.get("data", {}).get("custom_id")) in store._modals
        return True

    async def _prune_claims(self) -> None:
        """Claims outlive Discord's 15-minute interaction lifetime by far; drop old ones hourly."""
        now = self.clock.now()
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return
        async with self.db.session() as session:
            await prune_claims(session, "interaction:", now)
        self._pruned_at = now

    async def send_owed(self) -> None:
        await self.work.send_owed()

    def wake_outbox(self) -> None:
        """Something was enqueued (and committed): send it now, not at the next tick."""
        self.work.wake_outbox()

    async def setup_hook(self) -> None:
        self.scheduler.register("interaction-claims", self._prune_claims)
        self.work.register_features()
        for extension in discover_cogs():
            await self.load_extension(extension)
        # Last, so a run of every job (the demo's clock) sends what the features' jobs owe.
        self.work.register_outbox()
        add_waker(self.wake_outbox)
        if self.settings.guild_id:
            guild = discord.Object(id=int(self.settings.guild_id))
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    def add_message_tap(self, tap: MessageTap) -> None:
        """Hand every new message of the channels ``tap`` watches to it, straight from the
        gateway's payload, synchronously inside the parse.

        Neither a listener's asyncio task nor discord.py's ``Message`` is made for them: at
        gateway speed (a busy cohort, a reconnect replaying a backlog) building the ``Message``
        was most of the bot's own time per message. So these messages are not in discord.py's
        message cache and their thread's ``last_message_id`` is not moved (nothing here reads
        either); when an ``on_message`` listener or a ``wait_for("message")`` is pending,
        discord.py builds and dispatches the message as well.
        """
        self._message_taps.append(tap)

    def remove_message_tap(self, tap: MessageTap) -> None:
        with contextlib.suppress(ValueError):
            self._message_taps.remove(tap)

    def _message_created(self, parse: Callable[[Any], None], data: Mapping[str, Any]) -> None:
        """MESSAGE_CREATE: the taps take their channels' messages, discord.py parses the rest."""
        taken = False
        if self._message_taps:
            channel_id = str(data["channel_id"])
            for tap in self._message_taps:
                if not tap.watches(channel_id):
                    continue
                taken = True
                try:
                    tap.take(wire_from_payload(self._connection, data, tap.tag))
                except Exception:
                    log.exception("message tap %r failed", tap)
            if not taken and data.get("guild_id") is not None:
                for tap in self._message_taps:
                    if tap.stray is not None:
                        try:
                            tap.stray(wire_from_payload(self._connection, data, tap.tag))
                        except Exception:
                            log.exception("message tap %r failed", tap)
        if not taken or self._listening_for_messages():
            parse(data)

    def _listening_for_messages(self) -> bool:
        return bool(self.extra_events.get("on_message")) or self._waiters("message")

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        """The hot path: count events without an asyncio task per event."""
        if event_name == "socket_event_type":
            kind = str(args[0]) if args else "unknown"
            counter = self._event_counters.get(kind)
            if counter is None:
                counter = self._event_counters[kind] = self.metrics.events.labels(event=kind)
            counter.inc()
            if not self.extra_events.get("on_socket_event_type") and not self._waiters(
                "socket_event_type"
            ):
                return
        elif event_name == "message" and not self._listening_for_messages():
            # The bot has slash commands only, so discord.py's own on_message (prefix
            # commands) has nothing to do: no task for it when nobody else listens.
            return
        super().dispatch(event_name, *args, **kwargs)

    def _waiters(self, event: str) -> bool:
        """Whether ``wait_for(event)`` is pending (discord.py keeps those in ``_listeners``)."""
        waiting: dict[str, list[Any]] = getattr(self, "_listeners", {})
        return bool(waiting.get(event))

    async def on_message(self, message: discord.Message) -> None:
        """The bot has slash commands only: skip discord.py's prefix-command parsing."""

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command[Any, ..., Any]
    ) -> None:
        self.metrics.commands.labels(command=command.qualified_name, outcome="ok").inc()

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """One global handler: domain errors become one ephemeral sentence, the rest is logged."""
        original = getattr(error, "original", error)
        name = interaction.command.qualified_name if interaction.command else "unknown"
        if isinstance(original, UserError):
            self.metrics.commands.labels(command=name, outcome="refused").inc()
            await self._answer_error(interaction, name, original.sentence)
            return
        if isinstance(error, app_commands.CheckFailure):
            self.metrics.commands.labels(command=name, outcome="refused").inc()
            await self._answer_error(interaction, name, "You are not allowed to use this command.")
            return
        self.metrics.commands.labels(command=name, outcome="error").inc()
        log.error("command %s failed", name, exc_info=original)
        await self._answer_error(interaction, name, GENERIC_FAILURE)

    async def _answer_error(self, interaction: discord.Interaction, name: str, text: str) -> None:
        """The error's answer; if Discord will not take it (the interaction expired), say so
        in one log line: the cause was already handled above."""
        try:
            await send_ephemeral(interaction, text)
        except discord.HTTPException as exc:
            log.warning("could not answer /%s: %s %s", name, exc.status, exc.text[:200])

    async def on_ready(self) -> None:
        self._gateway_up = True

    async def on_resumed(self) -> None:
        self._gateway_up = True

    async def on_disconnect(self) -> None:
        self._gateway_up = False

    @property
    def gateway_connected(self) -> bool:
        return self._gateway_up and self.is_ready() and not self.is_closed()


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Reply privately whether or not the interaction was already answered (or deferred),
    within Discord's message length whatever the text echoes."""
    text = cap_message(text)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


class Application:
    """Everything ``cohortbot run`` starts, in one object with start/stop."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        db: Database | None = None,
        http_trace: aiohttp.TraceConfig | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db or Database(settings.database_url, echo=settings.db_echo)
        self._owns_db = db is None
        self.metrics = Metrics()
        self.scheduler = Scheduler(settings.scheduler_tick_seconds)
        configure_endpoints(settings.discord_api_base, settings.discord_gateway_url)
        self.bot = CohortBot(
            settings, self.db, self.clock, self.metrics, self.scheduler, http_trace=http_trace
        )
        self.web = build_web_server(
            settings,
            db=self.db,
            clock=self.clock,
            metrics=self.metrics,
            scheduler=self.scheduler,
            outbox=self.bot.outbox,
            connected=lambda: self.bot.gateway_connected,
        )
        self._bot_task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._stopping = False
        #: Why the Discord connection ended on its own (None while running or after a stop).
        self.crash: str | None = None

    async def check_startable(self) -> None:
        if self.settings.discord_token is None:
            raise StartupError(
                "DISCORD_TOKEN is not set: put the bot token in the environment or in .env."
            )
        await check_schema(self.db)

    async def start(self) -> None:
        await self.check_startable()
        assert self.settings.discord_token is not None
        await self.web.start()
        self.scheduler.start()
        token = self.settings.discord_token.get_secret_value()
        self._bot_task = asyncio.create_task(self._run_bot(token), name="discord-bot")
        log.info("cohortbot %s started; web on %s", __version__, self.web.url)

    async def _run_bot(self, token: str) -> None:
        """discord.py's client, remembering why it ended if nobody asked it to stop."""
        try:
            await self.bot.start(token)
        except discord.LoginFailure:
            self.crash = "Discord refused the token: check DISCORD_TOKEN."
            log.error(self.crash)
            raise
        except Exception as exc:
            self.crash = f"the Discord connection failed: {exc!r}"
            log.error("%s", self.crash, exc_info=exc)
            raise
        else:
            if not self._stopping:
                self.crash = "the Discord connection ended without being asked to stop"
                log.error("%s", self.crash)
        finally:
            self._stopped.set()

    async def wait_until_ready(self, within_seconds: float = 30.0) -> None:
        ready = asyncio.create_task(self.bot.wait_until_ready())
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            done, _ = await asyncio.wait(
                {ready, stopped}, timeout=within_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
            stopped.cancel()
        if not done:
            raise TimeoutError("the bot did not become ready in time")
        if self._bot_task is not None and self._bot_task.done() and self._bot_task.exception():
            raise StartupError(f"the bot stopped: {self._bot_task.exception()}")

    async def stop(self) -> None:
        """Clean shutdown: scheduled work and the outbox drained, gateway closed, pending
        writes flushed, scheduler and web stopped."""
        self._stopping = True
        # Scheduled work first, while the gateway and HTTP session still work: nothing new
        # starts, sends under way are recorded (nothing left claimed), then the connection goes.
        await quiesce(self.scheduler, self.bot.outbox, self.bot.wake_outbox)
        if not self.bot.is_closed():
            await self.bot.close()
        if self._bot_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._bot_task
        self.scheduler.shutdown()
        await self.web.stop()
        if self._owns_db:
            await self.db.dispose()
        self._stopped.set()

    async def stopped(self) -> None:
        await self._stopped.wait()

    async def run_until_signal(self) -> None:
        """``cohortbot run`` (``bot.runtime.run_until_signal``)."""
        await run_app(self)

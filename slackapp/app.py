"""The Slack wiring: ``SlackApplication`` is what ``cohortbot run`` starts with
``COHORTBOT_PLATFORM=slack`` (the same start/stop/run_until_signal contract as
``bot.discord_app.Application``).

One process owns the database, scheduler, web server and ONE outbox (drained on stop), and a
slack-bolt ``AsyncApp`` fed either by Socket Mode (default: no public URL) or by Slack's HTTP
deliveries on the bot's own web server at ``/slack/events`` (signatures checked by bolt).

Slack delivers at least once: an event is retried (``X-Slack-Retry-Num``) and a Socket Mode
envelope is sometimes delivered again. Every event, command, click and form is claimed under
a unique key (``bot.db.claims``) before anything is done, so it is acted on once, by one
process, whatever Slack repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp

from bot import __version__
from bot.access.identity import ChannelInfo, ChatUser, link_guild, link_members
from bot.chat import ChatError
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db.claims import ClaimBatcher, prune_claims
from bot.db.engine import Database
from bot.discussions.live import LiveDiscussions
from bot.errors import UserError
from bot.gradebook.reader import Exporter, MarksReader
from bot.metrics import Metrics
from bot.outbox import Outbox, add_waker
from bot.runtime import (
    ScheduledWork,
    StartupError,
    build_web_server,
    check_schema,
    quiesce,
)
from bot.runtime import run_until_signal as run_app
from bot.scheduler import Scheduler
from slackapp.buttons import FORMS, route
from slackapp.chat import (
    SlackChat,
    build_client,
    message_id,
    split_target,
    thread_id,
    user_from_info,
)
from slackapp.commands.parse import Option, ParseError, merge, parse
from slackapp.commands.table import BY_PATH, SHAPES, Call, SlackCommand
from slackapp.forms import FORM_PREFIX, ButtonAnswer, CommandForm, FormAnswer, Modal, typed_values
from slackapp.mrkdwn import to_mrkdwn
from slackapp.sessions import ReportingHandler

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on our side; it has been logged. Please try again later."
#: Every claim this adapter makes starts with it (pruned hourly, like Discord's).
CLAIM_PREFIX = "slack:"
EVENTS_PATH = "/slack/events"
CHANNEL_TYPES = "public_channel,private_channel"
MODAL_CALLBACK = "cohortbot:command"
#: A new message in a channel, or one shared with files: what can be an answer.
_POSTS = {None, "file_share", "thread_broadcast"}


def event_key(body: Mapping[str, Any]) -> str:
    """The unique key of an Events API delivery: a new message by its id (``"<channel>/<ts>"``:
    a ts alone repeats across channels; the same however often Slack sends it), anything else
    by team and event id."""
    team = str(body.get("team_id") or "")
    event = body.get("event") or {}
    if event.get("type") == "message" and event.get("subtype") in _POSTS and event.get("ts"):
        return f"{CLAIM_PREFIX}{team}:msg:{message_id(str(event.get('channel')), event['ts'])}"
    return f"{CLAIM_PREFIX}{team}:event:{body.get('event_id')}"


def action_key(body: Mapping[str, Any], action: Mapping[str, Any]) -> str:
    """One click, named by (action, message, user, the click's ``action_ts``): the same
    delivery redelivered acts once, while a deliberate second click is answered as on Discord
    (the services make it count once: one RSVP, one check-in credit, one decision). The message
    is named by channel and ts (a ts alone repeats across channels)."""
    team = str((body.get("team") or {}).get("id") or "")
    container = body.get("container") or {}
    message_ts = (body.get("message") or {}).get("ts") or container.get("message_ts")
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    clicked = message_id(str(channel), str(message_ts)) if message_ts else None
    user = (body.get("user") or {}).get("id")
    return (
        f"{CLAIM_PREFIX}{team}:action:{action.get('action_id')}:{clicked}:{user}"
        f":{action.get('action_ts')}"
    )


def message_target(event: Mapping[str, Any]) -> str:
    """The core's channel id of a message: its thread ("<channel>/<ts>") or its channel."""
    channel = str(event.get("channel", ""))
    parent = event.get("thread_ts")
    if parent and parent != event.get("ts"):
        return thread_id(channel, str(parent))
    return channel


def _in_a_thread(target: str) -> bool:
    """Whether a message target (``message_target``) is a thread, not a channel."""
    return "/" in target


def _quiet_token_skipped(record: logging.LogRecord) -> bool:
    return "`token` will be unused" not in record.getMessage()


class SlackApplication:
    """Everything ``cohortbot run`` starts on Slack, in one object with start/stop."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, db: Database | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db or Database(settings.database_url, echo=settings.db_echo)
        self._owns_db = db is None
        self.metrics = Metrics()
        self.scheduler = Scheduler(settings.scheduler_tick_seconds)
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        self.client = build_client(token, settings.slack_api_url)
        self.chat = SlackChat(self.client)
        #: Everything the bot sends on its own goes through it (``bot.outbox``); drained on stop.
        self.outbox = Outbox(
            self.db,
            self.chat,
            clock=self.clock.now,
            limits=SlackChat.rate_limits,
        )
        self.work = ScheduledWork(
            db=self.db,
            chat=self.chat,
            outbox=self.outbox,
            scheduler=self.scheduler,
            clock=self.clock,
            metrics=self.metrics,
        )
        self.discussions = LiveDiscussions(
            db=self.db,
            clock=self.clock,
            chat=self.chat,
            scheduler=self.scheduler,
            outbox=self.outbox,
            bot_user_id=lambda: self.chat.bot_user_id,
            writer=settings.recorder_writer,
        )
        self.marks = MarksReader(self.db, settings.gradebook_workers)
        self.exporter = Exporter(self.db, settings.gradebook_workers)
        self.claims = ClaimBatcher(self.db)
        secret = settings.slack_signing_secret
        # bolt also reads SLACK_BOT_TOKEN from the environment and warns that the client's
        # (the same token) wins: noise for the operator, so that one warning is not shown.
        logging.getLogger("slack_bolt.AsyncApp").addFilter(_quiet_token_skipped)
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=secret.get_secret_value() if secret else "",
            request_verification_enabled=settings.slack_mode == "http",
            process_before_response=False,
            # The answers it relays for students (private prompts) are its own messages:
            # the recorder must see them (it credits only relayed headers, ``parse_relayed``).
            ignoring_self_events_enabled=False,
        )
        self._register_listeners()
        self.web = build_web_server(
            settings,
            db=self.db,
            clock=self.clock,
            metrics=self.metrics,
            scheduler=self.scheduler,
            outbox=self.outbox,
            connected=self._connection_up,
        )
        if settings.slack_mode == "http":
            self.web.app.router.add_post(EVENTS_PATH, self._http_delivery)
        self.socket: ReportingHandler | None = None
        self._stopped = asyncio.Event()
        self._stopping = False
        self._started = False
        self._pruned_at: datetime | None = None
        self.connected = False
        #: Why the Slack connection ended on its own (None while running or after a stop).
        self.crash: str | None = None

    # ---------------------------------------------------------------- start and stop

    async def check_startable(self) -> None:
        missing = self.settings.missing_for_run()
        if missing is not None:
            raise StartupError(missing)
        await check_schema(self.db)

    async def start(self) -> None:
        await self.check_startable()
        try:
            me = await self.chat.connect()
        except ChatError as exc:
            if exc.retryable:
                raise StartupError(
                    f"Slack could not be reached at {self.settings.slack_api_url} "
                    f"({exc.detail}): check COHORTBOT_SLACK_API_URL and the network."
                ) from None
            raise StartupError(
                f"Slack refused SLACK_BOT_TOKEN ({exc.detail}): check the bot token and "
                "COHORTBOT_SLACK_API_URL."
            ) from None
        self._started = True
        log.info("slack: signed in as %s in workspace %s", me.get("user"), self.chat.team_id)
        await self._link_workspace()
        await self.discussions.start()
        self.scheduler.register("slack-claims", self._prune_claims)
        self.work.register_features()
        # Last, so a run of every job (the demo's clock) sends what the features' jobs owe.
        self.work.register_outbox()
        add_waker(self.work.wake_outbox)
        self.marks.warm()
        await self.web.start()
        self.scheduler.start()
        if self.settings.slack_mode == "socket":
            assert self.settings.slack_app_token is not None
            self.socket = ReportingHandler(
                self.bolt,
                self.settings.slack_app_token.get_secret_value(),
                web_client=self.client,  # apps.connections.open on the configured API URL
                on_down=self._session_down,
                on_up=self._session_up,
            )
            try:
                await self.socket.connect_async()  # type: ignore[no-untyped-call]
            except Exception as exc:
                raise StartupError(
                    f"Slack refused the Socket Mode connection ({exc}): check SLACK_APP_TOKEN."
                ) from None
        self.connected = True
        self.discussions.connected()
        log.info(
            "cohortbot %s started on Slack (%s mode); web on %s",
            __version__,
            self.settings.slack_mode,
            self.web.url,
        )

    def _session_down(self) -> None:
        """A Socket Mode session ended (slack_sdk opens the next by itself): until the next
        one's history read, live posts must not move the recorder's cursors."""
        if self.connected and not self._stopping:
            log.info("slack: the Socket Mode session ended; reconnecting")
            self.discussions.disconnected()

    def _session_up(self) -> None:
        """A new session after the first (which ``start`` reports): Slack does not send the
        events of the gap again, so the open threads are read whole."""
        if self.connected and not self._stopping:
            log.info("slack: Socket Mode reconnected; reading the open threads")
            self.discussions.connected()

    def _connection_up(self) -> bool:
        """For /healthz: started and, in Socket Mode, the websocket open (slack_sdk
        reconnects by itself; until it has, the probe says so)."""
        if not self.connected:
            return False
        if self.socket is None:
            return True
        client = self.socket.client
        session = client.current_session
        return not client.closed and session is not None and not session.closed

    async def wait_until_ready(self, within_seconds: float = 30.0) -> None:
        """Ready once ``start`` returned: Socket Mode connected, or the web server listening."""
        if not self.connected:
            raise StartupError("the Slack application was not started")

    async def stop(self) -> None:
        """Clean shutdown: scheduled work and the outbox drained, the connection closed,
        the recorder's queue written, scheduler and web stopped."""
        self._stopping = True
        await quiesce(self.scheduler, self.outbox, self.work.wake_outbox)
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close_async()  # type: ignore[no-untyped-call]
        self.connected = False
        if self._started:
            await self.discussions.close()
        await self.marks.close()
        await self.exporter.close()
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

    # ---------------------------------------------------------------- the workspace

    async def _link_workspace(self) -> None:
        """Bind the workspace to its cohort (modules to channels by name) and link the
        roster's people to their Slack accounts (by e-mail or handle)."""
        channels = [
            ChannelInfo(str(c["id"]), str(c["name"]))
            for c in await self._listed("conversations.list", "channels", types=CHANNEL_TYPES)
        ]
        users: list[ChatUser] = []
        for member in await self._listed("users.list", "members"):
            if not member.get("is_bot") and not member.get("deleted"):
                user = user_from_info(str(member["id"]), member)
                self.chat.remember(user)
                users.append(user)
        team = self.chat.team_id or ""
        async with self.db.session() as session:
            link = await link_guild(session, team, channels, [])
            linked = await link_members(session, users) if users else 0
        if link is None:
            log.warning("workspace %s is not linked to any cohort", team)
        elif link.unbound_modules:
            log.warning(
                "cohort %s: no channel found for %s",
                link.cohort_code,
                ", ".join(link.unbound_modules),
            )
        if linked:
            log.info("linked %d roster member(s) to their Slack account", linked)

    async def _listed(self, method: str, key: str, **args: Any) -> list[dict[str, Any]]:
        """Every page of a Web API list; what came before a refusal (logged) otherwise."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            while True:
                page = await self.chat._call(
                    method, limit=200, **args, **({"cursor": cursor} if cursor else {})
                )
                items += page.get(key) or []
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return items
        except ChatError as exc:
            log.warning("slack: %s failed (%s); linking what came", method, exc)
            return items

    # ---------------------------------------------------------------- exactly once

    async def once(self, key: str) -> bool:
        """True for the one delivery (of any process) that records ``key`` first."""
        try:
            return await self.claims.claim(key, self.clock.now())
        except Exception as exc:  # the database is down: answering beats silence
            log.warning("could not claim %s (%s); handling it here", key, exc)
            return True

    async def _prune_claims(self) -> None:
        """Slack retries for minutes, not days: drop old claims hourly."""
        now = self.clock.now()
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return
        async with self.db.session() as session:
            await prune_claims(session, CLAIM_PREFIX, now)
        self._pruned_at = now

    # ---------------------------------------------------------------- bolt listeners

    def _register_listeners(self) -> None:
        app = self.bolt
        app.command(re.compile(r"^/"))(self._on_command)
        app.view(MODAL_CALLBACK)(self._on_modal)
        app.view(re.compile("^" + re.escape(FORM_PREFIX)))(self._on_form)
        app.action(re.compile(r".*"))(self._on_action)
        app.event("message")(self._on_message)
        app.event("member_joined_channel")(self._on_member_joined)
        app.event("team_join")(self._on_team_join)
        app.event(re.compile(r"^(channel_created|channel_rename|group_rename)$"))(self._relink)
        app.event("app_mention")(self._ignore)

    async def _http_delivery(self, request: web.Request) -> web.Response:
        """HTTP mode: Slack's POST to ``/slack/events`` (events, commands, interactivity),
        verified by bolt (``X-Slack-Signature``) before any listener runs."""
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _ignore(self, body: dict[str, Any]) -> None:
        """Subscribed for completeness; nothing to do (and no 404 to make Slack retry)."""

    # ---------------------------------------------------------------- commands

    async def _on_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()  # within Slack's 3 seconds, always; the work comes after
        team = str(body.get("team_id") or self.chat.team_id or "")
        if not await self.once(f"{CLAIM_PREFIX}{team}:command:{body.get('trigger_id')}"):
            return
        name = str(body.get("command", "")).lstrip("/")
        try:
            parsed = parse(name, str(body.get("text") or ""), SHAPES)
        except ParseError as exc:
            self.metrics.commands.labels(command=name, outcome="refused").inc()
            await self._respond(respond, str(exc))
            return
        command = BY_PATH[parsed.path]
        call = await self._call_of(team, str(body.get("user_id")))
        ask = command.to_ask(parsed.values, parsed.missing)
        if ask:
            refused = await self._checked(command, call, parsed.values)
            if refused is not None:
                await self._respond(respond, refused)
                return
            await self._open_modal(command, ask, parsed.values, body)
            return
        await self._respond(respond, await self._run(command, call, parsed.values))

    async def _call_of(self, team: str, user_id: str) -> Call:
        return Call(self, team or None, await self.chat.user(user_id))

    async def _run(self, command: SlackCommand, call: Call, values: Mapping[str, Any]) -> str:
        """The command's answer, or its refusal as one sentence (nothing changed)."""
        name = " ".join(command.path)
        try:
            text = await command.run(call, values)
        except UserError as exc:
            self.metrics.commands.labels(command=name, outcome="refused").inc()
            return exc.sentence
        except Exception:
            self.metrics.commands.labels(command=name, outcome="error").inc()
            log.exception("command /%s failed", name)
            return GENERIC_FAILURE
        self.metrics.commands.labels(command=name, outcome="ok").inc()
        return text

    async def _checked(
        self, command: SlackCommand, call: Call, values: Mapping[str, Any]
    ) -> str | None:
        if command.check is None:
            return None
        try:
            await command.check(call, values)
        except UserError as exc:
            return exc.sentence
        return None

    async def _respond(self, respond: Any, text: str) -> None:
        """A private answer through the command's ``response_url``."""
        try:
            await respond(text=to_mrkdwn(text), response_type="ephemeral")
        except Exception as exc:
            log.warning("could not answer through response_url: %r", exc)

    async def _open_modal(
        self,
        command: SlackCommand,
        ask: tuple[Option, ...],
        given: Mapping[str, Any],
        body: Mapping[str, Any],
    ) -> None:
        """A form asking for what the command text left out; the rest travels with it."""
        metadata = json.dumps(
            {"path": list(command.path), "values": dict(given), "channel": body.get("channel_id")}
        )
        blocks = [
            {
                "type": "input",
                "block_id": option.name,
                "label": {"type": "plain_text", "text": (option.description or option.name)[:2000]},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": option.long,
                },
                # Slack refuses an empty input block unless it is optional: the required ones
                # are checked here, with the sentence under the field.
                "optional": True,
            }
            for option in ask
        ]
        await self.chat._call(
            "views.open",
            trigger_id=body.get("trigger_id"),
            view={
                "type": "modal",
                "callback_id": MODAL_CALLBACK,
                "title": {"type": "plain_text", "text": f"/{' '.join(command.path)}"[:24]},
                "submit": {"type": "plain_text", "text": "Submit"},
                "close": {"type": "plain_text", "text": "Cancel"},
                "private_metadata": metadata,
                "blocks": blocks,
            },
        )

    async def _on_modal(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The form a command opened: a field that does not parse keeps the form open with
        the sentence under it; otherwise the form closes and the answer comes privately."""
        meta = json.loads(view.get("private_metadata") or "{}")
        command = BY_PATH.get(tuple(meta.get("path", ())))
        if command is None:
            await ack()
            return
        state = (view.get("state") or {}).get("values") or {}
        typed = {block: (fields.get("value") or {}).get("value") for block, fields in state.items()}
        refused: str | None = None
        values: dict[str, Any] = {}
        try:
            values = merge(command.form_shape, meta.get("values") or {}, typed)
        except ParseError as exc:
            if exc.field is not None and exc.field in state:
                await ack(response_action="errors", errors={exc.field: str(exc)})
                return
            await ack()
            refused = str(exc)
        else:
            await ack()
        team = str((body.get("team") or {}).get("id") or self.chat.team_id or "")
        if not await self.once(f"{CLAIM_PREFIX}{team}:view:{view.get('id')}"):
            return
        user_id = str((body.get("user") or {}).get("id"))
        text = refused or await self._run(command, await self._call_of(team, user_id), values)
        channel = meta.get("channel") or await self.chat.dm_channel_id(user_id)
        try:
            await self.chat._call(
                "chat.postEphemeral", channel=channel, user=user_id, text=to_mrkdwn(text)
            )
        except ChatError as exc:
            log.warning("could not answer the form of /%s: %s", " ".join(command.path), exc)

    # ---------------------------------------------------------------- buttons

    async def _on_action(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        """A click, acted on once per delivery (``action_key``); the services make a second
        click count once. A button may answer with a form, opened with its ``trigger_id``."""
        await ack()
        team = str((body.get("team") or {}).get("id") or self.chat.team_id or "")
        user_id = str((body.get("user") or {}).get("id"))
        for action in body.get("actions") or []:
            if action.get("url"):
                continue  # a link button: Slack opened it, nothing for the bot to do
            action_id = str(action.get("action_id", ""))
            routed = route(action_id)
            key = action_key(body, action)
            if not await self.once(key):
                continue
            if routed is None:
                log.info("slack: button %s has no handler on Slack yet", action_id)
                await self._respond(
                    respond, "This button is not available on Slack yet; use the slash commands."
                )
                continue
            button, match = routed
            call = await self._call_of(team, user_id)
            answer = await self._answer(button.run(call, match, key), action_id)
            if isinstance(answer, str):
                await self._respond(respond, answer)
                continue
            try:
                await self._open_form(answer, body)
            except ChatError as exc:  # the trigger expired (3 s): the person may click again
                log.warning("could not open the form of button %s: %s", action_id, exc)
                await self._respond(respond, "The form could not be opened; please try again.")

    async def _open_form(self, form: CommandForm | Modal, body: Mapping[str, Any]) -> None:
        if isinstance(form, Modal):
            await self.chat._call("views.open", trigger_id=body.get("trigger_id"), view=form.view)
            return
        command = BY_PATH[form.path]
        where = {
            "trigger_id": body.get("trigger_id"),
            "channel_id": (body.get("channel") or {}).get("id"),
        }
        await self._open_modal(command, command.to_ask(form.values, ()), form.values, where)

    async def _on_form(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        """A submitted form of the bot's own (``slackapp.buttons.FORMS``): a refusal keeps it
        open with the sentence under its field; otherwise it closes and the answer comes
        privately in the person's DM with the bot."""
        submit = FORMS.get(str(view.get("callback_id")))
        if submit is None:
            await ack()
            return
        team = str((body.get("team") or {}).get("id") or self.chat.team_id or "")
        user_id = str((body.get("user") or {}).get("id"))
        meta = json.loads(view.get("private_metadata") or "{}")
        key = f"{CLAIM_PREFIX}{team}:view:{view.get('id')}"
        name = str(view.get("callback_id"))
        try:
            call = await self._call_of(team, user_id)
            answer = await submit(call, meta, typed_values(view), key)
        except UserError as exc:
            answer = FormAnswer(text=exc.sentence)
        except Exception:
            log.exception("form %s failed", name)
            answer = FormAnswer(text=GENERIC_FAILURE)
        if answer.errors:
            await ack(response_action="errors", errors=answer.errors)
            return
        await ack()
        if answer.text is None:
            return
        try:
            await self.chat._call(
                "chat.postEphemeral",
                channel=await self.chat.dm_channel_id(user_id),
                user=user_id,
                text=to_mrkdwn(answer.text),
            )
        except ChatError as exc:
            log.warning("could not answer the form %s: %s", name, exc)

    async def _answer(self, work: Awaitable[ButtonAnswer], name: str) -> ButtonAnswer:
        """A handler's text, or its refusal as one sentence (nothing changed)."""
        try:
            return await work
        except UserError as exc:
            return exc.sentence
        except Exception:
            log.exception("button %s failed", name)
            return GENERIC_FAILURE

    # ---------------------------------------------------------------- events

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Answers in a prompt's thread go to the discussion recorder, edits and deletions
        too; a redelivered event is recorded once (its key is claimed first)."""
        if not await self.once(event_key(body)):
            return
        subtype = event.get("subtype")
        # Every reply in a thread goes to the recorder (and every message of a watched private
        # answers channel): it records those of watched threads and keeps the others a while,
        # since the thread may be a prompt's not watched yet.
        recorder = self.discussions.recorder

        def wanted(target: str) -> bool:
            return recorder.watches(target) or _in_a_thread(target)

        if subtype == "message_changed":
            message = dict(event.get("message") or {})
            message.setdefault("channel", event.get("channel"))
            target = message_target(message)
            if wanted(target):
                before = (event.get("previous_message") or {}).get("text")
                recorder.add_edit(await self.chat.to_chat_message(target, message), before)
        elif subtype == "message_deleted":
            previous = dict(event.get("previous_message") or {})
            previous.setdefault("channel", event.get("channel"))
            ts = str(event.get("deleted_ts") or previous.get("ts") or "")
            previous.setdefault("ts", ts)
            target = message_target(previous)
            if ts and wanted(target):
                gone = message_id(str(previous["channel"]), ts)
                recorder.add_delete(gone, target, self.clock.now())
        elif subtype in _POSTS:
            target = message_target(event)
            if wanted(target):
                recorder.add(await self.chat.to_chat_message(target, event))

    async def _on_member_joined(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if not await self.once(event_key(body)):
            return
        await self._link_users([str(event.get("user"))])

    async def _on_team_join(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if not await self.once(event_key(body)):
            return
        user = event.get("user") or {}
        if isinstance(user, dict) and user.get("id"):
            found = user_from_info(str(user["id"]), user)
            self.chat.remember(found)
            await self._link_users([found.platform_user_id])

    async def _relink(self, body: dict[str, Any]) -> None:
        """A channel created or renamed: bind modules to channels again."""
        if await self.once(event_key(body)):
            await self._link_workspace()

    async def _link_users(self, user_ids: list[str]) -> None:
        users = [await self.chat.user(uid) for uid in user_ids if uid]
        try:
            async with self.db.session() as session:
                await link_members(session, users)
        except Exception:
            log.exception("linking %d member(s) to the roster failed", len(users))


__all__ = ["SlackApplication", "event_key", "message_target", "split_target"]

"""The neutral driver over the local Slack server and the real ``SlackApplication``.

The workspace mirrors the example cohort: one channel per module, people with the roster's
e-mails (the bot matches them by e-mail: the roster's Discord ids do not fit Slack).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.clock import ManualClock
from bot.config import Settings
from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.models import Cohort as CohortRow
from bot.db.models import DiscussionPrompt, Enrolment, EnrolmentStatus, Module, Role
from bot.db.models import Person as RosterPerson
from bot.roster.service import import_roster, load_programme
from cohortlab.drive.base import Cohort, File, NotOnPlatform, Person, Post, Reply, Thread
from cohortlab.drive.text import readable
from cohortlab.localslack import Channel, LocalSlackServer, Message, SlackActor, message_text
from cohortlab.localslack.models import Ephemeral, TsClock, action_ids
from cohortlab.localslack.models import File as SharedFile
from cohortlab.localslack.scripting import Result
from cohortlab.sandbox import example_texts
from slackapp.chat import message_id

#: Seconds to wait for the app's private answer (it acks at once, then answers; a release
#: first sends every student's DM at Slack's pace).
ANSWER_WAIT = 60.0
#: A click's answer comes at once (nothing to send first).
CLICK_WAIT = 15.0


def _as_read(item: Ephemeral | Message) -> str:
    """What the reader sees: the blocks (a client shows them instead of the fallback text,
    which usually says the same), then any fallback line the blocks do not repeat."""
    fallback = item.text or ""
    blocks = message_text(replace(item, text=""))
    if not blocks:
        return fallback
    shown = set(blocks.split("\n"))
    extra = [line for line in fallback.split("\n") if line and line not in shown]
    return "\n".join([blocks, *extra])


T = TypeVar("T")


@dataclass
class SlackWorld:
    """The example cohort as a local Slack workspace (people keyed by e-mail)."""

    server: LocalSlackServer
    channels: dict[str, Channel] = field(default_factory=dict)
    people: dict[str, SlackActor] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    modules_of: dict[str, list[str]] = field(default_factory=dict)

    def tutor_of(self, module: str) -> SlackActor:
        return next(
            self.people[e]
            for e, r in self.roles.items()
            if r == Role.TUTOR and module in self.modules_of[e]
        )

    def students_of(self, module: str) -> list[SlackActor]:
        return [
            self.people[e]
            for e, r in self.roles.items()
            if r == Role.STUDENT and module in self.modules_of[e]
        ]


async def build_slack_world(
    server: LocalSlackServer, db: Database, *, bind_channels: bool = True
) -> SlackWorld:
    """Load the example programme and roster, then make the matching workspace (people keyed
    by e-mail, in roster order).

    The bot binds modules to their channels by name when it starts (``conversations.list``);
    ``bind_channels`` stores the channel ids at once, for setups that need them before (the
    driver's cohort does); False leaves the binding to the bot, as a new install has it."""
    programme_text, roster_text = example_texts()
    async with db.session() as s:
        programme = await load_programme(s, programme_text)
        await import_roster(s, programme.cohort_code, roster_text)
    world = SlackWorld(server)
    async with db.session() as s:
        cohort = (
            await s.execute(select(CohortRow).where(CohortRow.code == programme.cohort_code))
        ).scalar_one()
        rows = (
            await s.execute(
                select(RosterPerson, Enrolment.role, Module.code)
                .join(Enrolment, Enrolment.person_id == RosterPerson.id)
                .join(Module, Module.id == Enrolment.module_id)
                .where(Module.cohort_id == cohort.id, Enrolment.status == EnrolmentStatus.ACTIVE)
                .order_by(RosterPerson.id, Module.code)
            )
        ).all()
        for person, role, code in rows:
            assert person.email is not None
            if person.email not in world.people:
                # Slack knows them by e-mail only: the roster's Discord ids and handles do not fit.
                person.platform_user_id = None
                world.people[person.email] = server.script.add_user(
                    person.email.split("@")[0], email=person.email, real_name=person.display_name
                )
                world.roles[person.email] = role
                world.modules_of[person.email] = []
            world.modules_of[person.email].append(code)
        modules = (await s.execute(select(Module).where(Module.cohort_id == cohort.id))).scalars()
        for module in modules:
            members = [
                world.people[e] for e, codes in world.modules_of.items() if module.code in codes
            ]
            chan = server.script.add_channel(
                (module.channel_name or module.code).lower(), members=members
            )
            world.channels[module.code] = chan
            if bind_channels:
                module.channel_id = chan.id
        cohort.guild_id = server.team_id
    return world


def option_text(name: str, value: Any) -> str:
    """``name:value`` as a person types it in Slack's command box (a file: shared first,
    ``SlackPerson.command``)."""
    if isinstance(value, SlackPerson):
        return f"{name}:<@{value.platform_id}|{value.name}>"
    if isinstance(value, File):
        raise NotOnPlatform(f"`{name}`: a file must be shared before the command names it")
    if isinstance(value, bool):
        return f"{name}:{'true' if value else 'false'}"
    return f"{name}:{shlex.quote(str(value))}"


class SlackPerson(Person):
    def __init__(self, cohort: SlackCohort, email: str, actor: SlackActor) -> None:
        self.cohort: SlackCohort = cohort
        self.email = email
        self.name = actor.name
        self.actor = actor
        self.platform_id = actor.id

    def __repr__(self) -> str:
        return f"<{self.name} on Slack>"

    async def _answer(
        self, result: Result, *, views_before: int | None = None, wait: float = ANSWER_WAIT
    ) -> Reply:
        def check() -> Reply | None:
            mine = result.ephemerals
            if mine:
                return self.cohort.reply_of(mine[-1])
            if views_before is not None and len(self.actor.open_views) > views_before:
                return Reply(form=True)
            return None

        return await self.cohort.wait_for(
            check,
            what=f"an answer to {self.name} (ack={result.ack}, responses={result.responses})",
            timeout=wait,
        )

    async def command(self, name: str, *, where: str | None = None, **options: Any) -> Reply:
        path = name.strip().lstrip("/").split()
        for key, value in options.items():
            if isinstance(value, File):
                # A command carries text only: share the file in the DM, then give its link.
                shared = await self.actor.upload(self.actor.dm_channel(), value.name, value.data)
                options[key] = shared.to_json()["permalink"]
        text = " ".join([*path[1:], *(option_text(k, v) for k, v in options.items())])
        chan = self.cohort.world.channels[where] if where else None
        views = len(self.actor.open_views)
        before = set(self._dm_files())
        result = await self.actor.slash(f"/{path[0]}", text, channel=chan)
        if not result.acked:
            raise AssertionError(f"/{name} was not acknowledged within Slack's 3 seconds")
        reply = await self._answer(result, views_before=views)
        # A private answer cannot hold a file on Slack: the bot puts it in the DM first.
        reply.files = [(f.name, f.content) for i, f in self._dm_files().items() if i not in before]
        return reply

    def _dm_files(self) -> dict[str, SharedFile]:
        bot = self.cohort.server.bot_user_id
        return {f.id: f for m in self.actor.dms() if m.user == bot for f in m.files}

    async def fill_form(self, **fields: Any) -> Reply:
        result = await self.actor.submit(values={k: {"value": str(v)} for k, v in fields.items()})
        if result.errors:
            # Slack keeps a refused form open with each sentence under its box.
            text = " ".join(result.errors.values())
            return Reply(text=text, raw=str(result.errors), form=True)
        return await self._answer(result)

    async def post(self, where: str | Thread, text: str) -> Post:
        chan, parent = self.cohort.place_of(where)
        ts = await self.actor.post(chan, text, thread_ts=parent)
        return Post(text=text, author=self.name, ref=(chan, ts), message_id=message_id(chan, ts))

    async def edit(self, post: Post, text: str) -> None:
        chan, ts = post.ref
        await self.actor.edit(chan, ts, text)

    async def click(self, post: Post, button: str) -> Reply:
        action = next((b for b in post.buttons if b.startswith(button)), None)
        if action is None:
            raise AssertionError(f"no button {button!r} on the post; it has {post.buttons}")
        message: Message = self.cohort.message_of(post)
        views = len(self.actor.open_views)
        result = await self.actor.click(message, action)
        return await self._answer(result, views_before=views, wait=CLICK_WAIT)

    async def choose(self, post: Post, control: str, choice: str) -> Reply:
        action = next(
            (b for b in post.buttons if b.startswith(control) and b.endswith(f":{choice}")), None
        )
        if action is None:
            raise AssertionError(f"no button {choice!r} for {control!r}; it has {post.buttons}")
        return await self.click(post, action)

    def dms(self) -> list[Post]:
        bot = self.cohort.server.bot_user_id
        return [self.cohort.post_of(m) for m in self.actor.dms() if m.user == bot]


class SlackCohort(Cohort):
    platform = "slack"
    outside = "the DM with cohortbot"

    def __init__(
        self,
        server: LocalSlackServer,
        app: Any,
        world: SlackWorld,
        db: Database,
        clock: ManualClock,
    ) -> None:
        self.server = server
        self.app = app
        self.world = world
        self.db = db
        self.clock = clock
        self.guild_id = server.team_id
        self.people = {e: SlackPerson(self, e, a) for e, a in world.people.items()}
        self._names = {p.platform_id: p.name for p in self.people.values()}
        self._names[server.bot_user_id] = "cohortbot"
        self._names.update({c.id: c.name for c in world.channels.values()})

    @classmethod
    async def start(
        cls, db: Database, *, start: datetime, settings: dict[str, Any] | None = None
    ) -> SlackCohort:
        from slackapp.app import SlackApplication

        clock = ManualClock(start)
        server = LocalSlackServer()
        # Messages are stamped on the term's clock, as the local Discord server does.
        server.state.clock = TsClock(lambda: clock.now().timestamp())
        await server.start()
        await upgrade(db)
        world = await build_slack_world(server, db)
        values: dict[str, Any] = dict(
            platform="slack",
            slack_bot_token=server.bot_token,
            slack_app_token=server.app_token,
            slack_signing_secret=server.signing_secret,
            slack_api_url=server.api_base,
            database_url=db.url,
            web_port=0,
            scheduler_tick_seconds=3600,
        )
        app = SlackApplication(Settings(**{**values, **(settings or {})}), clock=clock, db=db)
        await app.start()
        return cls(server, app, world, db, clock)

    # ----------------------------------------------------------------- people

    def _with(self, role: Role, module: str | None) -> list[Person]:
        return [
            self.people[e]
            for e, r in self.world.roles.items()
            if r == role and (module is None or module in self.world.modules_of[e])
        ]

    def tutors(self, module: str | None = None) -> list[Person]:
        return self._with(Role.TUTOR, module)

    def students(self, module: str | None = None) -> list[Person]:
        return self._with(Role.STUDENT, module)

    def admins(self) -> list[Person]:
        return self._with(Role.ADMIN, None)

    def modules_of(self, person: Person) -> list[str]:
        assert isinstance(person, SlackPerson)
        return list(self.world.modules_of[person.email])

    def offers(self, command: str) -> bool:
        from slackapp.commands.table import BY_PATH

        return tuple(command.split()) in BY_PATH

    def chat_user(self, person: Person) -> ChatUser:
        assert isinstance(person, SlackPerson)
        user = person.actor.user
        return ChatUser(person.platform_id, user.name, user.real_name or user.name, person.email)

    def by_email(self, email: str) -> Person:
        return self.people[email]

    def channel_name(self, module: str) -> str:
        return self.world.channels[module].name

    # ------------------------------------------------------------------ reads

    def reply_of(self, item: Ephemeral | Message) -> Reply:
        raw = message_text(item)
        return Reply(text=readable(_as_read(item), self._names, self.clock.now()), raw=raw)

    def post_of(self, message: Message) -> Post:
        return Post(
            text=readable(_as_read(message), self._names, self.clock.now()),
            author=self._names.get(message.user, message.user),
            buttons=tuple(action_ids(message.blocks or [])),
            ref=(message.channel, message.ts),
            message_id=message_id(message.channel, message.ts),
        )

    def message_of(self, post: Post) -> Message:
        _, ts = post.ref
        return self.server.state.find_message(ts)

    def place_of(self, where: str | Thread) -> tuple[str, str | None]:
        if isinstance(where, Thread):
            chan, parent = where.ref  # no parent: a private channel (post before you see)
            return str(chan), str(parent) if parent else None
        return self.world.channels[where].id, None

    def posts(self, where: str | Thread) -> list[Post]:
        chan, parent = self.place_of(where)
        found = self.server.script.messages(chan, parent)
        return [self.post_of(m) for m in found if parent is None or m.ts != parent]

    def link_of(self, post: Post) -> str:
        return self.message_of(post).permalink

    async def prompt_thread(self, prompt_id: int) -> Thread:
        from slackapp.chat import split_target

        async with self.db.session() as s:
            prompt = await s.get(DiscussionPrompt, prompt_id)
            assert prompt is not None and prompt.thread_id, f"prompt {prompt_id} has no thread"
        return Thread(split_target(prompt.thread_id))

    async def wait_for(
        self,
        check: Callable[[], T | None],
        *,
        what: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> T:
        return await self.server.wait_until(
            lambda: check() or None, timeout=timeout, describe=lambda: f"never came: {what}"
        )

    # ------------------------------------------------------------------ time

    async def run_due(self) -> None:
        await self.app.scheduler.run_all_now()
        await asyncio.sleep(0)

    async def stop(self) -> None:
        await self.app.stop()
        await self.server.stop()
        assert self.server.internal_errors == [], self.server.internal_errors

"""The neutral driver over the local Discord server and the real ``Application``
(``cohortlab.sandbox.Sandbox``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select

from bot.access.identity import ChatUser
from bot.db.engine import Database
from bot.db.models import DiscussionPrompt
from bot.db.models import Person as RosterPerson
from cohortlab.drive.base import Cohort, File, Person, Post, Reply, Thread
from cohortlab.drive.text import readable
from cohortlab.localdiscord.interactions import walk_components
from cohortlab.localdiscord.models import Message
from cohortlab.localdiscord.scripting import Actor, Upload, message_text
from cohortlab.sandbox import Sandbox, World

#: Seconds to wait for the bot's answer to a command (the bot defers, then follows up).
ANSWER_WAIT = 15.0

T = TypeVar("T")


class DiscordPerson(Person):
    def __init__(self, cohort: DiscordCohort, username: str, actor: Actor) -> None:
        self.cohort: DiscordCohort = cohort
        self.name = username
        self.actor = actor
        self.platform_id = str(actor.id)

    def __repr__(self) -> str:
        return f"<{self.name} on Discord>"

    def _option(self, value: Any) -> Any:
        if isinstance(value, DiscordPerson):
            return value.actor
        if isinstance(value, File):
            return Upload(value.name, value.data, value.content_type)
        return value

    async def command(self, name: str, *, where: str | None = None, **options: Any) -> Reply:
        world = self.cohort.world
        channel = world.channel(where) if where else world.general
        handle = await self.actor.command(
            name,
            where=channel,
            force=True,
            options={k: self._option(v) for k, v in options.items()},
        )
        interaction = await handle.response(timeout=ANSWER_WAIT)
        if interaction.response_type == 9:
            return Reply(form=True)
        return self.cohort.reply_of(await handle.reply(timeout=ANSWER_WAIT))

    async def fill_form(self, **fields: Any) -> Reply:
        handle = await self.actor.submit_modal({k: str(v) for k, v in fields.items()})
        return self.cohort.reply_of(await handle.reply(timeout=ANSWER_WAIT))

    async def post(self, where: str | Thread, text: str) -> Post:
        channel = self.cohort.channel_of(where)
        return self.cohort.post_of(await self.actor.post(channel, text))

    async def edit(self, post: Post, text: str) -> None:
        await self.actor.edit(post.ref, text)

    async def click(self, post: Post, button: str) -> Reply:
        custom_id = next((b for b in post.buttons if b.startswith(button)), None)
        if custom_id is None:
            raise AssertionError(f"no button {button!r} on the post; it has {post.buttons}")
        handle = await self.actor.click(post.ref, custom_id)
        interaction = await handle.response(timeout=ANSWER_WAIT)
        if interaction.response_type == 9:
            return Reply(form=True)
        return self.cohort.reply_of(await handle.reply(timeout=ANSWER_WAIT))

    async def choose(self, post: Post, control: str, choice: str) -> Reply:
        custom_id = next((b for b in post.buttons if b.startswith(control)), None)
        if custom_id is None:
            raise AssertionError(f"no menu {control!r} on the post; it has {post.buttons}")
        handle = await self.actor.select(post.ref, custom_id, [choice])
        return self.cohort.reply_of(await handle.reply(timeout=ANSWER_WAIT))

    def dms(self) -> list[Post]:
        return [self.cohort.post_of(m) for m in self.actor.dms()]

    def answers(self) -> list[Post]:
        return [self.cohort.post_of(m) for m in self.actor.ephemerals() if m.components]


class DiscordCohort(Cohort):
    platform = "discord"
    outside = "#general"

    def __init__(self, sandbox: Sandbox, emails: dict[str, str]) -> None:
        assert sandbox.world is not None
        self.sandbox = sandbox
        self.app = sandbox.app
        self.world: World = sandbox.world
        self.guild_id = str(self.world.guild.id)
        self.db: Database = sandbox.db
        self.clock = sandbox.clock
        self.people = {
            name: DiscordPerson(self, name, actor) for name, actor in self.world.people.items()
        }
        self._emails = emails
        #: The guild roles of people who left, to give back when they rejoin.
        self._roles: dict[str, list[int]] = {}
        self._names = {p.platform_id: p.name for p in self.people.values()}
        self._names[str(sandbox.server.bot_user_id)] = "cohortbot"
        self._names.update({str(c.id): c.name or str(c.id) for c in self.world.channels.values()})
        self._names.update({str(r.id): r.name for r in self.world.module_roles.values()})
        self._all_names = dict(self._names)
        self._channels_named = -1

    @classmethod
    async def start(
        cls, db: Database, *, start: datetime, settings: dict[str, Any] | None = None
    ) -> DiscordCohort:
        box = Sandbox(db, start=start, settings=settings)
        await box.start()
        async with db.session() as s:
            rows = (
                await s.execute(select(RosterPerson.platform_username, RosterPerson.email))
            ).all()
        return cls(box, {str(u): str(e) for u, e in rows if u and e})

    # ----------------------------------------------------------------- people

    def _with(self, actors: list[Actor]) -> list[Person]:
        by_id = {p.actor.id: p for p in self.people.values()}
        return [by_id[a.id] for a in actors]

    def tutors(self, module: str | None = None) -> list[Person]:
        return self._with(self.world.tutors(module))

    def students(self, module: str | None = None) -> list[Person]:
        return self._with(self.world.students(module))

    def admins(self) -> list[Person]:
        return self._with(self.world.admins())

    def modules_of(self, person: Person) -> list[str]:
        return list(self.world.modules_of[person.name])

    def offers(self, command: str) -> bool:
        from discord import app_commands

        tree = self.sandbox.app.bot.tree
        names = {
            c.qualified_name for c in tree.walk_commands() if isinstance(c, app_commands.Command)
        }
        return " ".join(command.split()) in names

    def chat_user(self, person: Person) -> ChatUser:
        assert isinstance(person, DiscordPerson)
        user = person.actor.user
        return ChatUser(person.platform_id, user.username, user.global_name or user.username)

    def by_email(self, email: str) -> Person:
        return next(p for n, p in self.people.items() if self._emails.get(n) == email)

    def channel_name(self, module: str) -> str:
        return str(self.world.channel(module).name)

    async def leave(self, person: Person) -> None:
        assert isinstance(person, DiscordPerson)
        guild = self.sandbox.server.state.guilds[self.world.guild.id]
        self._roles[person.name] = list(guild.members[person.actor.id].roles)
        self.sandbox.server.script.remove_member(self.world.guild, person.actor)

    async def rejoin(self, person: Person) -> None:
        assert isinstance(person, DiscordPerson)
        guild = self.sandbox.server.state.guilds[self.world.guild.id]
        roles = [guild.roles[r] for r in self._roles.pop(person.name, []) if r in guild.roles]
        self.sandbox.server.script.add_member(self.world.guild, person.actor, roles=roles)

    # ------------------------------------------------------------------ reads

    def _names_now(self) -> dict[str, str]:
        """Who and what an id names, threads made since the start included (built again
        only when the server has new channels)."""
        channels = self.sandbox.server.state.channels
        if len(channels) != self._channels_named:
            named = {str(i): c.name or str(i) for i, c in channels.items()}
            self._all_names = {**named, **self._names}
            self._channels_named = len(channels)
        return self._all_names

    def reply_of(self, message: Message) -> Reply:
        raw = message_text(message)
        return Reply(
            text=readable(raw, self._names_now(), self.clock.now()),
            raw=raw,
            files=[(a.filename, a.data) for a in message.attachments],
            post=self.post_of(message) if message.components else None,
        )

    def post_of(self, message: Message) -> Post:
        buttons = tuple(
            str(c["custom_id"]) for c in walk_components(message.components) if c.get("custom_id")
        )
        return Post(
            text=readable(message_text(message), self._names_now(), self.clock.now()),
            author=self._names.get(str(message.author_id), str(message.author_id)),
            buttons=buttons,
            ref=message,
            message_id=str(message.id),
        )

    def channel_of(self, where: str | Thread) -> Any:
        if isinstance(where, Thread):
            return where.ref
        return self.world.channel(where)

    def posts(self, where: str | Thread) -> list[Post]:
        script = self.sandbox.server.script
        return [self.post_of(m) for m in script.messages(self.channel_of(where))]

    def link_of(self, post: Post) -> str:
        message: Message = post.ref
        return f"https://discord.com/channels/{self.guild_id}/{message.channel_id}/{message.id}"

    async def prompt_thread(self, prompt_id: int) -> Thread:
        async with self.db.session() as s:
            prompt = await s.get(DiscussionPrompt, prompt_id)
            assert prompt is not None and prompt.thread_id, f"prompt {prompt_id} has no thread"
        return Thread(int(prompt.thread_id))

    async def wait_for(
        self,
        check: Callable[[], T | None],
        *,
        what: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> T:
        return await self.sandbox.server.wait_until(
            lambda: check() or None, timeout=timeout, describe=lambda: f"never came: {what}"
        )

    # ------------------------------------------------------------------ time

    async def run_due(self) -> None:
        await self.sandbox.run_due()

    async def stop(self) -> None:
        await self.sandbox.stop()

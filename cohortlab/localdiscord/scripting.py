"""Drive the local server as people would: build a cohort, post, command, click, wait.

Every action goes through the same state rules the bot's REST calls meet and is fanned out on
the gateway at once. Every wait re-checks after each change and, on timeout, raises an
AssertionError that lists what *was* seen, so a failing end-to-end test explains itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cohortlab.localdiscord import permissions as P
from cohortlab.localdiscord.interactions import (
    InvalidInput,
    Resolver,
    as_upload,
    build_command_data,
    component_data,
    find_component,
    modal_submit_data,
)
from cohortlab.localdiscord.models import (
    DM,
    EPHEMERAL,
    GUILD_CATEGORY,
    JSON,
    LOADING,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    Channel,
    Guild,
    Interaction,
    Message,
    Role,
    User,
)
from cohortlab.localdiscord.permissions import MEMBER_TARGET, ROLE_TARGET, Overwrite
from cohortlab.localdiscord.state import ApiError, Upload

if TYPE_CHECKING:
    from cohortlab.localdiscord.server import LocalDiscordServer

ChannelRef = Channel | int | str
MessageRef = Message | int

#: What the bot role gets in a cohort built by ``build_cohort``: enough to run the course.
BOT_PERMISSIONS = (
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.SEND_MESSAGES_IN_THREADS
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.ADD_REACTIONS
    | P.MANAGE_MESSAGES
    | P.MANAGE_THREADS
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.MANAGE_ROLES
    | P.MENTION_EVERYONE
    | P.USE_APPLICATION_COMMANDS
)
TUTOR_PERMISSIONS = P.MANAGE_MESSAGES | P.MANAGE_THREADS | P.MENTION_EVERYONE


def message_text(msg: Message) -> str:
    """Everything a reader sees in a message: content plus embed titles, text and fields."""
    parts = [msg.content]
    for embed in msg.embeds:
        for key in ("title", "description"):
            if embed.get(key):
                parts.append(str(embed[key]))
        for fld in embed.get("fields") or []:
            parts.append(f"{fld.get('name', '')}: {fld.get('value', '')}")
        footer = (embed.get("footer") or {}).get("text")
        if footer:
            parts.append(str(footer))
    for comp in _walk(msg.components):
        if comp.get("type") == 10 and comp.get("content"):
            parts.append(str(comp["content"]))
    return "\n".join(p for p in parts if p)


def _walk(components: list[JSON]) -> Iterable[JSON]:
    for comp in components:
        yield comp
        yield from _walk(list(comp.get("components") or []))


def _matcher(
    contains: str | None, predicate: Callable[[Message], bool] | None, after: int | None
) -> Callable[[Message], bool]:
    def match(msg: Message) -> bool:
        if msg.deleted or msg.flags & LOADING:
            return False
        if after is not None and msg.id <= after:
            return False
        if contains is not None and contains.lower() not in message_text(msg).lower():
            return False
        return predicate is None or predicate(msg)

    return match


class Script:
    """The test's hands on the server: setup, people, and waits on what the bot did."""

    def __init__(self, server: LocalDiscordServer) -> None:
        self.server = server
        self.state = server.state

    # --------------------------------------------------------------- setup

    def _commit(self) -> None:
        self.server.commit()
        self.server.notify()

    def add_user(self, username: str, *, global_name: str | None = None) -> Actor:
        user = self.state.add_user(username, global_name=global_name)
        return Actor(self, user.id)

    def actor(self, user: User | int) -> Actor:
        return Actor(self, user if isinstance(user, int) else user.id)

    def create_guild(self, name: str, *, owner: Actor | None = None) -> Guild:
        owner = owner or self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        guild = self.state.create_guild(name, owner.id)
        self._commit()
        return guild

    def create_role(
        self, guild: Guild, name: str, *, permissions: int = 0, mentionable: bool = True
    ) -> Role:
        role = self.state.create_role(
            guild.id, name, permissions=permissions, mentionable=mentionable
        )
        self._commit()
        return role

    def create_channel(
        self,
        guild: Guild,
        name: str,
        *,
        category: Channel | None = None,
        topic: str | None = None,
        overwrites: Iterable[Overwrite] | None = None,
        type: int = 0,
    ) -> Channel:
        ch = self.state.create_channel(
            guild.id,
            name,
            type=type,
            topic=topic,
            parent_id=category.id if category else None,
            overwrites=overwrites,
        )
        self._commit()
        return ch

    def add_member(
        self,
        guild: Guild,
        user: Actor | int,
        *,
        roles: Sequence[Role] = (),
        nick: str | None = None,
    ) -> None:
        uid = user if isinstance(user, int) else user.id
        self.state.add_member(guild.id, uid, roles=[r.id for r in roles], nick=nick)
        self._commit()

    def remove_member(self, guild: Guild, user: Actor | int) -> None:
        self.state.remove_member(guild.id, user if isinstance(user, int) else user.id)
        self._commit()

    def give_role(self, guild: Guild, user: Actor | int, role: Role) -> None:
        uid = user if isinstance(user, int) else user.id
        self.state.set_member_role(guild.owner_id, guild.id, uid, role.id, add=True)
        self._commit()

    def take_role(self, guild: Guild, user: Actor | int, role: Role) -> None:
        uid = user if isinstance(user, int) else user.id
        self.state.set_member_role(guild.owner_id, guild.id, uid, role.id, add=False)
        self._commit()

    def set_overwrite(
        self, channel: Channel, target: Role | Actor | int, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set a channel overwrite for a role, a person, or a user id (the guild id: @everyone)."""
        if isinstance(target, Role):
            tid, ttype = target.id, ROLE_TARGET
        else:
            tid, ttype = (target if isinstance(target, int) else target.id), MEMBER_TARGET
            if isinstance(target, int) and channel.guild_id == target:
                ttype = ROLE_TARGET
        self.state.set_overwrite(channel.id, tid, ttype, allow=allow, deny=deny)
        self._commit()

    async def build_cohort(
        self,
        *,
        name: str = "MSc Data Science",
        modules: Sequence[str] = ("MATH70095",),
        tutors: Sequence[str] = ("tutor",),
        students: Sequence[str] = ("student1", "student2"),
        bot_permissions: int = BOT_PERMISSIONS,
        add_bot: bool = True,
    ) -> Cohort:
        """A cohort server: roles, a general and a staff channel, one channel per module.

        The staff channel hides from @everyone and shows to tutors and the bot; module
        channels live under a "Modules" category. The bot joins last (its GUILD_CREATE then
        carries everything).
        """
        owner = self.add_user("programme-admin", global_name="Programme Admin")
        guild = self.state.create_guild(name, owner.id)
        tutor_role = self.state.create_role(
            guild.id, "Tutor", permissions=TUTOR_PERMISSIONS, color=0x3498DB, hoist=True
        )
        student_role = self.state.create_role(guild.id, "Student", color=0x2ECC71)
        bot_role = self.state.create_role(
            guild.id, "cohortbot", permissions=bot_permissions, managed=True
        )
        general = self.state.create_channel(guild.id, "general")
        staff = self.state.create_channel(
            guild.id,
            "staff",
            overwrites=[
                Overwrite(guild.id, ROLE_TARGET, deny=P.VIEW_CHANNEL),
                Overwrite(tutor_role.id, ROLE_TARGET, allow=P.VIEW_CHANNEL),
                Overwrite(bot_role.id, ROLE_TARGET, allow=P.VIEW_CHANNEL),
            ],
        )
        category = self.state.create_channel(guild.id, "Modules", type=GUILD_CATEGORY)
        module_channels = {
            code: self.state.create_channel(
                guild.id, code.lower(), parent_id=category.id, topic=f"Module {code}"
            )
            for code in modules
        }
        tutor_actors: list[Actor] = []
        for tname in tutors:
            actor = self.add_user(tname)
            self.state.add_member(guild.id, actor.id, roles=[tutor_role.id])
            actor.home_channel = general.id
            tutor_actors.append(actor)
        student_actors: list[Actor] = []
        for sname in students:
            actor = self.add_user(sname)
            self.state.add_member(guild.id, actor.id, roles=[student_role.id])
            actor.home_channel = general.id
            student_actors.append(actor)
        owner.home_channel = general.id
        if add_bot:
            self.state.add_member(guild.id, self.server.bot_user_id, roles=[bot_role.id])
        self._commit()
        return Cohort(
            script=self,
            guild=guild,
            owner=owner,
            roles={"tutor": tutor_role, "student": student_role, "bot": bot_role},
            general=general,
            staff=staff,
            category=category,
            modules=module_channels,
            tutors=tutor_actors,
            students=student_actors,
        )

    def add_bot_to(self, guild: Guild, roles: Sequence[Role] = ()) -> None:
        self.add_member(guild, self.server.bot_user_id, roles=roles)

    # -------------------------------------------------------------- lookups

    def channel(self, ref: ChannelRef, guild: Guild | None = None) -> Channel:
        if isinstance(ref, Channel):
            return self.state.channel(ref.id)
        if isinstance(ref, int):
            return self.state.channel(ref)
        name = ref.lstrip("#")
        for ch in self.state.channels.values():
            if ch.name == name and (guild is None or ch.guild_id == guild.id):
                return ch
        raise LookupError(f"no channel named {ref!r}")

    def message(self, ref: MessageRef) -> Message:
        mid = ref if isinstance(ref, int) else ref.id
        try:
            return self.state.messages[mid]
        except KeyError:
            raise LookupError(f"no message {mid}") from None

    def messages(self, channel: ChannelRef, *, include_deleted: bool = False) -> list[Message]:
        """A channel's history, oldest first, as members see it (no ephemeral messages)."""
        ch = self.channel(channel)
        if include_deleted:
            return sorted(
                (
                    m
                    for m in self.state.messages.values()
                    if m.channel_id == ch.id and m.visible_to is None
                ),
                key=lambda m: m.id,
            )
        return [self.state.messages[i] for i in self.state.channel_messages.get(ch.id, [])]

    def bot_messages(self, channel: ChannelRef) -> list[Message]:
        return [m for m in self.messages(channel) if m.author_id == self.server.bot_user_id]

    def name_of(self, user_id: int) -> str:
        user = self.state.users.get(user_id)
        return user.username if user else str(user_id)

    def describe(self, msgs: Sequence[Message], limit: int = 15) -> str:
        if not msgs:
            return "  (nothing)"
        lines = []
        for m in list(msgs)[-limit:]:
            flags = []
            if m.flags & EPHEMERAL:
                flags.append("ephemeral")
            if m.flags & LOADING:
                flags.append("thinking")
            if m.deleted:
                flags.append("deleted")
            tag = f" [{', '.join(flags)}]" if flags else ""
            text = message_text(m).replace("\n", " | ")
            lines.append(f"  {m.id} {self.name_of(m.author_id)}{tag}: {text[:200]!r}")
        if len(msgs) > limit:
            lines.insert(0, f"  ... {len(msgs) - limit} earlier")
        return "\n".join(lines)

    def last_id(self) -> int:
        """A cursor: pass as ``after=`` to wait only for what happens from now on."""
        return self.state.snowflakes.next()

    # ---------------------------------------------------------------- waits

    async def wait_for_message(
        self,
        channel: ChannelRef | None = None,
        *,
        contains: str | None = None,
        predicate: Callable[[Message], bool] | None = None,
        author: Actor | int | None = None,
        after: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """A visible (non-ephemeral) message, by default from the bot, matching the filters."""
        ch = self.channel(channel) if channel is not None else None
        author_id = (
            self.server.bot_user_id
            if author is None
            else (author if isinstance(author, int) else author.id)
        )
        match = _matcher(contains, predicate, after)

        def pool() -> list[Message]:
            if ch is not None:
                return self.messages(ch)
            return sorted(
                (m for m in self.state.messages.values() if m.visible_to is None and not m.deleted),
                key=lambda m: m.id,
            )

        def check() -> Message | None:
            return next((m for m in pool() if m.author_id == author_id and match(m)), None)

        def describe() -> str:
            # Everyone's messages, not only the expected author's: "the student posted but the
            # bot never answered" is the usual story.
            where = f"#{ch.name}" if ch is not None else "any channel"
            want = f" containing {contains!r}" if contains else ""
            return (
                f"no message from {self.name_of(author_id)} in {where}{want} within "
                f"{timeout}s; saw:\n{self.describe(pool())}"
            )

        return await self.server.wait_until(check, timeout=timeout, describe=describe)

    async def expect_no_message(
        self,
        channel: ChannelRef,
        *,
        after: int,
        within: float = 0.3,
        author: Actor | int | None = None,
    ) -> None:
        """Assert nothing new appears from ``author`` (default the bot) for ``within`` seconds."""
        try:
            found = await self.wait_for_message(channel, after=after, author=author, timeout=within)
        except AssertionError:
            return
        raise AssertionError(f"unexpected message: {self.describe([found])}")

    async def wait_for(
        self,
        check: Callable[[], Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> Any:
        """Wait for any state condition (truthy result) with a readable failure."""

        def wrapped() -> Any:
            value = check()
            return value if value else None

        return await self.server.wait_until(
            wrapped, timeout=timeout, describe=lambda: f"{what} not met within {timeout}s"
        )

    async def wait_for_connection(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until a bot session has identified or resumed and is connected."""
        await self.wait_for(
            lambda: any(s.conn is not None for s in self.server.gateway.sessions.values()),
            timeout=timeout,
            what="a connected gateway session",
        )

    async def wait_for_commands(
        self,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
        guild: Guild | None = None,
        names: Sequence[str] = (),
    ) -> list[str]:
        """Until the bot has registered application commands (all of ``names`` if given)."""

        def check() -> list[str] | None:
            cmds = [
                c.name
                for c in self.state.commands.values()
                if c.application_id == self.server.app.id
                and (c.guild_id is None or guild is None or c.guild_id == guild.id)
            ]
            if not cmds or any(n not in cmds for n in names):
                return None
            return cmds

        def describe() -> str:
            have = [c.name for c in self.state.commands.values()]
            return f"commands {list(names) or 'any'} not registered within {timeout}s; have {have}"

        return await self.server.wait_until(check, timeout=timeout, describe=describe)


@dataclass
class Cohort:
    script: Script
    guild: Guild
    owner: Actor
    roles: dict[str, Role]
    general: Channel
    staff: Channel
    category: Channel
    modules: dict[str, Channel]
    tutors: list[Actor]
    students: list[Actor]

    @property
    def tutor(self) -> Actor:
        return self.tutors[0]

    @property
    def student(self) -> Actor:
        return self.students[0]

    def module(self, code: str) -> Channel:
        return self.modules[code]

    def add_student(self, username: str) -> Actor:
        actor = self.script.add_user(username)
        self.script.add_member(self.guild, actor, roles=[self.roles["student"]])
        actor.home_channel = self.general.id
        self.students.append(actor)
        return actor


@dataclass
class Actor:
    """A person in the server, acting through the Discord client."""

    script: Script
    id: int
    home_channel: int | None = None
    _last_interaction: int | None = field(default=None, repr=False)

    @property
    def server(self) -> LocalDiscordServer:
        return self.script.server

    @property
    def user(self) -> User:
        return self.script.state.users[self.id]

    @property
    def name(self) -> str:
        return self.user.username

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def _channel(self, channel: ChannelRef | None) -> Channel:
        if channel is None:
            if self.home_channel is None:
                raise ValueError(f"{self.name} has no home channel: pass channel=")
            return self.script.channel(self.home_channel)
        return self.script.channel(channel)

    def _done(self) -> None:
        self.script._commit()

    # ------------------------------------------------------------ messages

    async def post(
        self,
        channel: ChannelRef | None,
        content: str = "",
        *,
        reply_to: MessageRef | None = None,
        attachments: Sequence[Upload | tuple[str, bytes]] = (),
        embeds: list[JSON] | None = None,
    ) -> Message:
        ch = self._channel(channel)
        reference = None
        if reply_to is not None:
            ref = self.script.message(reply_to)
            reference = {"message_id": str(ref.id), "channel_id": str(ref.channel_id)}
        try:
            msg = self.script.state.create_message(
                self.id,
                ch.id,
                content,
                embeds=embeds,
                reference=reference,
                uploads=[as_upload(a) for a in attachments],
            )
        finally:
            self._done()
        return msg

    async def dm_channel(self) -> Channel:
        ch = self.script.state.open_dm(self.id, self.server.bot_user_id)
        self._done()
        return ch

    async def dm(
        self, content: str, *, attachments: Sequence[Upload | tuple[str, bytes]] = ()
    ) -> Message:
        """Send the bot a direct message."""
        ch = await self.dm_channel()
        return await self.post(ch, content, attachments=attachments)

    async def edit(self, message: MessageRef, content: str) -> Message:
        msg = self.script.message(message)
        try:
            return self.script.state.edit_message(
                self.id, msg.channel_id, msg.id, {"content": content}
            )
        finally:
            self._done()

    async def delete(self, message: MessageRef) -> None:
        msg = self.script.message(message)
        try:
            self.script.state.delete_message(self.id, msg.channel_id, msg.id)
        finally:
            self._done()

    async def react(self, message: MessageRef, emoji: str, *, remove: bool = False) -> None:
        msg = self.script.message(message)
        try:
            self.script.state.react(self.id, msg.channel_id, msg.id, emoji, add=not remove)
        finally:
            self._done()

    async def pin(self, message: MessageRef, *, unpin: bool = False) -> None:
        msg = self.script.message(message)
        try:
            self.script.state.set_pinned(self.id, msg.channel_id, msg.id, not unpin)
        finally:
            self._done()

    # ------------------------------------------------------------- threads

    async def create_thread(
        self,
        channel: ChannelRef | None,
        name: str,
        *,
        from_message: MessageRef | None = None,
        private: bool = False,
        invitable: bool = True,
    ) -> Channel:
        ch = self._channel(channel)
        try:
            if from_message is not None:
                msg = self.script.message(from_message)
                return self.script.state.start_thread_from_message(self.id, ch.id, msg.id, name)
            return self.script.state.start_thread(
                self.id,
                ch.id,
                name,
                type=PRIVATE_THREAD if private else PUBLIC_THREAD,
                invitable=invitable,
            )
        finally:
            self._done()

    async def join_thread(self, thread: ChannelRef) -> None:
        ch = self.script.channel(thread)
        try:
            self.script.state.add_thread_member(self.id, ch.id, self.id)
        finally:
            self._done()

    async def leave_thread(self, thread: ChannelRef) -> None:
        ch = self.script.channel(thread)
        try:
            self.script.state.remove_thread_member(self.id, ch.id, self.id)
        finally:
            self._done()

    async def add_to_thread(self, thread: ChannelRef, other: Actor | int) -> None:
        ch = self.script.channel(thread)
        uid = other if isinstance(other, int) else other.id
        try:
            self.script.state.add_thread_member(self.id, ch.id, uid)
        finally:
            self._done()

    async def edit_thread(self, thread: ChannelRef, **changes: Any) -> Channel:
        ch = self.script.channel(thread)
        try:
            return self.script.state.edit_channel(self.id, ch.id, changes)
        finally:
            self._done()

    # -------------------------------------------------------- interactions

    def _resolver(self, ch: Channel) -> Resolver:
        def store(upload: Upload) -> JSON:
            return self.script.state.store_attachment(upload, ch.id).payload()

        return Resolver(self.script.state, ch.guild_id, ch.id, store, viewer_id=self.id)

    def _check_command_visible(self, data: JSON, ch: Channel) -> None:
        """Refuse what the Discord client would not offer this user (unless forced)."""
        perms = self.script.state.permissions_in(self.id, ch.id)
        if ch.type == DM:
            contexts = data.get("contexts")
            if data.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
                raise PermissionError(f"/{data['name']} is not available in DMs")
            return
        if not perms & P.VIEW_CHANNEL:
            raise PermissionError(f"{self.name} cannot see #{ch.name}")
        if not perms & P.USE_APPLICATION_COMMANDS:
            raise PermissionError(f"{self.name} may not use commands in #{ch.name}")
        needed = data.get("default_member_permissions")
        if needed is not None and perms != P.ALL:
            bits = int(needed)
            if bits == 0 or perms & bits != bits:
                raise PermissionError(
                    f"Discord hides /{data['name']} from {self.name} (default_member_permissions="
                    f"{needed}); pass force=True to invoke it anyway"
                )

    def _interact(
        self, type_: int, ch: Channel, data: JSON, message_id: int | None = None
    ) -> InteractionHandle:
        try:
            it = self.script.state.create_interaction(
                self.server.app.id, type_, self.id, ch.id, data, message_id=message_id
            )
        finally:
            self._done()
        self._last_interaction = it.id
        return InteractionHandle(self, it)

    def _command_target(
        self, name: str, channel: ChannelRef | None
    ) -> tuple[Channel, list[str], Any]:
        ch = self._channel(channel)
        path = name.strip().lstrip("/").split()
        if not path:
            raise InvalidInput("empty command name")
        cmd = self.script.state.find_command(self.server.app.id, ch.guild_id, path[0])
        return ch, path, cmd

    async def command(
        self,
        name: str,
        *,
        where: ChannelRef | None = None,
        force: bool = False,
        options: dict[str, Any] | None = None,
        **more_options: Any,
    ) -> InteractionHandle:
        """Invoke ``/name sub ...`` in ``where`` (default: home channel) as the client would.

        Options come as keywords or in ``options`` (for names like ``where``); values may be
        plain Python values, names, ids, Actors/Channels/Roles, or Upload for attachments.
        """
        ch, path, cmd = self._command_target(name, where)
        if not force:
            self._check_command_visible(cmd.data, ch)
        data = build_command_data(
            cmd, path, {**(options or {}), **more_options}, self._resolver(ch)
        )
        return self._interact(2, ch, data)

    async def autocomplete(
        self,
        name: str,
        option: str,
        value: str,
        *,
        where: ChannelRef | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        options: dict[str, Any] | None = None,
        **more_options: Any,
    ) -> list[JSON]:
        """Type ``value`` into ``option`` and return the choices the bot suggests."""
        ch, path, cmd = self._command_target(name, where)
        filled = {**(options or {}), **more_options, option: value}
        data = build_command_data(cmd, path, filled, self._resolver(ch), focused=option)
        handle = self._interact(4, ch, data)
        it = await handle.response(timeout=timeout)
        return list((it.response_data or {}).get("choices") or [])

    def _visible_message(self, message: MessageRef) -> Message:
        msg = self.script.message(message)
        if msg.deleted:
            raise InvalidInput(f"message {msg.id} was deleted")
        if msg.visible_to is not None and msg.visible_to != self.id:
            raise PermissionError(f"{self.name} cannot see ephemeral message {msg.id}")
        if msg.visible_to is None and not self.script.state.can_view(self.id, msg.channel_id):
            raise PermissionError(f"{self.name} cannot see message {msg.id}")
        return msg

    async def click(self, message: MessageRef, custom_id: str) -> InteractionHandle:
        """Press a button on a message."""
        msg = self._visible_message(message)
        ch = self.script.channel(msg.channel_id)
        comp = find_component(msg.components, custom_id)
        data = component_data(comp, None, self._resolver(ch))
        return self._interact(3, ch, data, message_id=msg.id)

    async def select(
        self, message: MessageRef, custom_id: str, values: Sequence[Any]
    ) -> InteractionHandle:
        """Choose values in a select menu (option values, or users/roles/channels)."""
        msg = self._visible_message(message)
        ch = self.script.channel(msg.channel_id)
        comp = find_component(msg.components, custom_id)
        data = component_data(comp, list(values), self._resolver(ch))
        return self._interact(3, ch, data, message_id=msg.id)

    async def wait_for_modal(self, *, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """The modal the bot opened for this user (callback type 9)."""
        state = self.script.state

        def check() -> JSON | None:
            shown = state.modals.get(self.id)
            return shown.data if shown else None

        return await self.server.wait_until(
            check,
            timeout=timeout,
            describe=lambda: f"no modal shown to {self.name} within {timeout}s",
        )

    async def submit_modal(
        self,
        fields: dict[str, Any] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        **more: Any,
    ) -> InteractionHandle:
        """Fill and submit the modal the bot last showed this user (fields by custom_id)."""
        await self.wait_for_modal(timeout=timeout)
        shown = self.script.state.modals.pop(self.id)
        origin = self.script.state.interactions.get(shown.interaction_id)
        channel_id = origin.channel_id if origin else self.home_channel
        assert channel_id is not None
        ch = self.script.channel(channel_id)
        data = modal_submit_data(shown, {**(fields or {}), **more}, self._resolver(ch))
        return self._interact(5, ch, data, message_id=shown.message_id)

    # ---------------------------------------------------------------- reads

    def ephemerals(self) -> list[Message]:
        return sorted(
            (
                m
                for m in self.script.state.messages.values()
                if m.visible_to == self.id and not m.deleted
            ),
            key=lambda m: m.id,
        )

    def dms(self) -> list[Message]:
        """Messages the bot sent this user in their DM channel."""
        key = frozenset({self.id, self.server.bot_user_id})
        cid = self.script.state.dm_channels.get(key)
        if cid is None:
            return []
        return [m for m in self.script.messages(cid) if m.author_id != self.id]

    async def wait_for_ephemeral(
        self,
        *,
        contains: str | None = None,
        predicate: Callable[[Message], bool] | None = None,
        after: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """An ephemeral message only this user can see (e.g. "your mark is ...")."""
        match = _matcher(contains, predicate, after)

        def describe() -> str:
            want = f" containing {contains!r}" if contains else ""
            return (
                f"no ephemeral message to {self.name}{want} within {timeout}s; saw:\n"
                f"{self.script.describe(self.ephemerals())}"
            )

        return await self.server.wait_until(
            lambda: next((m for m in self.ephemerals() if match(m)), None),
            timeout=timeout,
            describe=describe,
        )

    async def wait_for_dm(
        self,
        *,
        contains: str | None = None,
        predicate: Callable[[Message], bool] | None = None,
        after: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """A direct message from the bot to this user."""
        match = _matcher(contains, predicate, after)

        def describe() -> str:
            want = f" containing {contains!r}" if contains else ""
            return (
                f"no DM to {self.name}{want} within {timeout}s; saw:\n"
                f"{self.script.describe(self.dms())}"
            )

        return await self.server.wait_until(
            lambda: next((m for m in self.dms() if match(m)), None),
            timeout=timeout,
            describe=describe,
        )


@dataclass
class InteractionHandle:
    """One interaction a user started; await what the bot answered."""

    actor: Actor
    interaction: Interaction

    @property
    def id(self) -> int:
        return self.interaction.id

    def _calls(self) -> str:
        token = self.interaction.token
        calls = [c for c in self.actor.server.calls if token in c.path]
        if not calls:
            return "  (the bot made no call for this interaction)"
        return "\n".join(
            f"  {c.method} {c.route} -> {c.status} {c.response if c.status >= 400 else ''}"
            for c in calls
        )

    async def response(self, *, timeout: float = 5.0) -> Interaction:  # noqa: ASYNC109
        """Until the bot acknowledges (any callback type)."""
        it = self.interaction

        def describe() -> str:
            name = it.data.get("name") or it.data.get("custom_id")
            return (
                f"bot did not answer interaction {name!r} (type {it.type}) within {timeout}s;"
                f" calls:\n{self._calls()}"
            )

        return await self.actor.server.wait_until(
            lambda: it if it.acknowledged else None, timeout=timeout, describe=describe
        )

    @property
    def messages(self) -> list[Message]:
        """The interaction's visible messages: original response then follow-ups."""
        state = self.actor.script.state
        ids = (
            [self.interaction.original_message_id] if self.interaction.original_message_id else []
        ) + self.interaction.followup_ids
        if self.interaction.response_type == 7 and self.interaction.message_id is not None:
            ids.insert(0, self.interaction.message_id)
        found = [state.messages[i] for i in ids if i in state.messages]
        return [m for m in found if not m.deleted and not m.flags & LOADING]

    async def reply(
        self,
        *,
        contains: str | None = None,
        predicate: Callable[[Message], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """A (non-thinking) message of this interaction matching the filters."""
        match = _matcher(contains, predicate, None)

        def describe() -> str:
            it = self.interaction
            want = f" containing {contains!r}" if contains else ""
            state = f"response type {it.response_type}" if it.acknowledged else "not acknowledged"
            return (
                f"no reply{want} to interaction {it.data.get('name') or it.data.get('custom_id')!r}"
                f" within {timeout}s ({state}); saw:\n{self.actor.script.describe(self.messages)}"
                f"\ncalls:\n{self._calls()}"
            )

        return await self.actor.server.wait_until(
            lambda: next((m for m in self.messages if match(m)), None),
            timeout=timeout,
            describe=describe,
        )

    async def modal(self, *, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        it = await self.response(timeout=timeout)
        if it.response_type != 9 or it.response_data is None:
            raise AssertionError(f"expected a modal, bot answered with type {it.response_type}")
        return it.response_data


__all__ = [
    "BOT_PERMISSIONS",
    "Actor",
    "ApiError",
    "Cohort",
    "InteractionHandle",
    "InvalidInput",
    "Script",
    "Upload",
    "message_text",
]

"""People acting in the workspace, for tests and the demo.

    alice = server.script.add_user("alice", email="alice@uni.ac.uk", tz="Asia/Tokyo")
    chan = server.script.add_channel("math70097", members=[alice])
    ts = await alice.post(chan, "my answer", thread_ts=parent_ts)
    result = await alice.slash("/prompt", 'create module:MATH70097 title:"Week 1"', channel=chan)
    await result.wait_ephemeral(contains="created")
    await alice.click(message_ts, "rsvp_yes")
    view = alice.open_views[-1]; await alice.submit(view, {"block": {"action": "value"}})

Every action goes through the same rules as the Web API (a person cannot post in a private
channel they are not in) and sends the app the event, command or interaction Slack would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from cohortlab.localslack.cohort import SlackCohort, build_cohort
from cohortlab.localslack.delivery import COMMANDS, INTERACTIVE, Delivery
from cohortlab.localslack.interactions import ResponseTarget
from cohortlab.localslack.models import (
    Channel,
    Ephemeral,
    File,
    Message,
    SlackError,
    User,
    View,
    action_ids,
    find_action,
)

if TYPE_CHECKING:
    from cohortlab.localslack.server import LocalSlackServer

T = TypeVar("T")
ChannelRef = Channel | str
#: Seconds a script waits for the app to acknowledge a command or click.
ACK_WAIT = 10.0


def _text_of(item: Message | Ephemeral) -> str:
    """The text a person reads: the fallback text and every text inside the blocks."""
    parts = [item.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(item.blocks or [])
    return "\n".join(p for p in parts if p)


message_text = _text_of


@dataclass
class Result:
    """The app's answer to one command, click or submit."""

    actor: SlackActor
    delivery: Delivery
    channel: str | None
    target: ResponseTarget | None
    started: str

    @property
    def ack(self) -> dict[str, Any] | None:
        """The acknowledgement's payload (None: acked empty, or not acked)."""
        return self.delivery.ack_payload

    @property
    def acked(self) -> bool:
        return self.delivery.acked

    @property
    def timed_out(self) -> bool:
        return self.delivery.timed_out and not self.delivery.acked

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Bodies the app POSTed to this interaction's ``response_url``."""
        return list(self.target.bodies) if self.target is not None else []

    @property
    def ephemerals(self) -> list[Ephemeral]:
        """Ephemeral messages this person got in this channel since the interaction."""
        return [
            e
            for e in self.actor.server.state.ephemerals
            if e.user == self.actor.id
            and (self.channel is None or e.channel == self.channel)
            and float(e.ts) > float(self.started)
            and not e.deleted
        ]

    def replies(self) -> list[Message | Ephemeral]:
        """What the person saw in answer: ephemerals and the bot's channel posts since."""
        seen: list[Message | Ephemeral] = list(self.ephemerals)
        if self.channel is not None:
            state = self.actor.server.state
            seen += [
                m
                for m in state.messages.get(self.channel, {}).values()
                if m.user == state.bot.id and float(m.ts) > float(self.started)
            ]
        return sorted(seen, key=lambda m: float(m.ts))

    async def wait_reply(self, contains: str = "", timeout: float = 5.0) -> Message | Ephemeral:  # noqa: ASYNC109
        """The first ephemeral or in-channel answer containing ``contains``."""
        return await self.actor.server.wait_until(
            lambda: next((m for m in self.replies() if contains in _text_of(m)), None),
            timeout=timeout,
            describe=lambda: (
                f"no reply containing {contains!r}; got "
                f"{[_text_of(m) for m in self.replies()]} (ack={self.ack})"
            ),
        )

    def texts(self) -> list[str]:
        out = [_text_of(e) for e in self.ephemerals]
        if self.ack and (self.ack.get("text") or self.ack.get("blocks")):
            out.append(str(self.ack.get("text") or ""))
        return out

    async def wait_ephemeral(self, contains: str = "", timeout: float = 5.0) -> Ephemeral:  # noqa: ASYNC109
        """The first ephemeral reply containing ``contains``; AssertionError lists what came."""
        return await self.actor.server.wait_until(
            lambda: next((e for e in self.ephemerals if contains in _text_of(e)), None),
            timeout=timeout,
            describe=lambda: (
                f"no ephemeral reply containing {contains!r}; got {self.texts()}"
                f" (ack={self.ack}, responses={self.responses})"
            ),
        )


@dataclass
class SubmitResult(Result):
    view: View | None = None

    @property
    def errors(self) -> dict[str, str]:
        """Field errors the app answered with ``response_action: errors``."""
        ack = self.ack or {}
        if ack.get("response_action") == "errors" and isinstance(ack.get("errors"), dict):
            return {str(k): str(v) for k, v in ack["errors"].items()}
        return {}

    @property
    def closed(self) -> bool:
        return self.view is not None and self.view.closed


@dataclass
class SlackActor:
    """A person in the workspace, acting through what Slack's client would send."""

    server: LocalSlackServer
    user: User
    uploads: list[File] = field(default_factory=list)
    #: Where ``slash`` runs without a channel (None: the DM with the bot).
    home_channel: str | None = None

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def mention(self) -> str:
        return f"<@{self.user.id}>"

    def _channel(self, ref: ChannelRef) -> Channel:
        return self.server.state.channel(ref if isinstance(ref, str) else ref.id)

    def dm_channel(self) -> Channel:
        return self.server.state.open_dm(self.server.bot_user_id, [self.id])

    # --------------------------------------------------------------- posting

    async def post(
        self,
        channel: ChannelRef,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        broadcast: bool = False,
        ts: str | None = None,
    ) -> str:
        """Post (or reply in a thread) and send the app its ``message`` event; the ts.

        ``ts`` chooses the message's ts, e.g. one another channel already has (Slack's ts is
        unique within a channel only)."""
        chan = self._channel(channel)
        msg = self.server.state.post(
            chan,
            self.id,
            text,
            blocks=blocks,
            thread_ts=thread_ts,
            reply_broadcast=broadcast,
            ts=ts,
        )
        self.server.commit()
        return msg.ts

    async def dm(self, text: str, *, thread_ts: str | None = None) -> str:
        """Write to the bot in its DM."""
        return await self.post(self.dm_channel(), text, thread_ts=thread_ts)

    async def edit(self, channel: ChannelRef, ts: str, text: str) -> None:
        self.server.state.update(self._channel(channel), ts, self.id, text=text)
        self.server.commit()

    async def delete(self, channel: ChannelRef, ts: str) -> None:
        self.server.state.delete(self._channel(channel), ts, self.id)
        self.server.commit()

    async def join(self, channel: ChannelRef) -> None:
        chan = self._channel(channel)
        if chan.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        self.server.state.join(chan, self.id)
        self.server.commit()

    async def upload(
        self,
        channel: ChannelRef,
        filename: str,
        content: bytes,
        *,
        thread_ts: str | None = None,
        comment: str = "",
    ) -> File:
        """Share a file as the Slack client does: the channel gets a file_share message."""
        state = self.server.state
        chan = self._channel(channel)
        f = state.start_upload(filename, max(len(content), 1), self.id)
        state.receive_upload(f.id, content)
        state.complete_upload(
            [{"id": f.id}], self.id, channel=chan, thread_ts=thread_ts, initial_comment=comment
        )
        self.uploads.append(f)
        self.server.commit()
        return f

    # ------------------------------------------------------------- commands

    async def slash(
        self, command: str, text: str = "", *, channel: ChannelRef | None = None
    ) -> Result:
        """Run a slash command and wait for the app's acknowledgement (3 s, as Slack)."""
        if channel is None and self.home_channel is not None:
            channel = self.home_channel
        chan = self._channel(channel) if channel is not None else self.dm_channel()
        if not command.startswith("/"):
            command = "/" + command
        started = self.server.state.clock.next()
        payload, target = self.server.interactions.slash_payload(self.id, command, text, chan.id)
        delivery = self.server.deliver(COMMANDS, payload, retries=False)
        self.server.targets_by_delivery[delivery.envelope_id] = target
        await delivery.wait(ACK_WAIT)
        return Result(self, delivery, chan.id, target, started)

    def _source(self, target: Message | Ephemeral | View | str) -> Message | Ephemeral | View:
        if not isinstance(target, str):
            return target
        state = self.server.state
        try:
            return state.find_message(target)
        except SlackError:
            pass
        for eph in state.ephemerals:
            if eph.ts == target and eph.user == self.id:
                return eph
        if target in state.views:
            return state.views[target]
        raise AssertionError(f"{self.name} sees no message, ephemeral or view {target!r}")

    async def click(
        self,
        target: Message | Ephemeral | View | str,
        action_id: str,
        *,
        value: Any = None,
    ) -> Result:
        """Press a button (or pick a value) in a message, an ephemeral or an open modal."""
        source = self._source(target)
        if isinstance(source, Ephemeral) and source.user != self.id:
            raise AssertionError(f"{self.name} cannot see another person's ephemeral")
        if isinstance(source, Message):
            chan = self.server.state.channel(source.channel)
            if (chan.is_private or chan.is_im) and self.id not in chan.members:
                raise AssertionError(f"{self.name} cannot see channel {chan.name or chan.id}")
        blocks = source.blocks if isinstance(source, View) else (source.blocks or [])
        found = find_action(blocks, action_id)
        if found is None:
            raise AssertionError(
                f"no element with action_id {action_id!r}; there are {action_ids(blocks)}"
            )
        block_id, element = found
        started = self.server.state.clock.next()
        payload, response = self.server.interactions.block_actions_payload(
            self.id, source, block_id, element, value
        )
        delivery = self.server.deliver(INTERACTIVE, payload, retries=False)
        await delivery.wait(ACK_WAIT)
        channel = None if isinstance(source, View) else source.channel
        return Result(self, delivery, channel, response, started)

    # ---------------------------------------------------------------- modals

    @property
    def open_views(self) -> list[View]:
        """Modals open for this person, bottom of the stack first."""
        return self.server.state.open_modals(self.id)

    @property
    def home(self) -> View | None:
        return next(
            (v for v in self.server.state.views.values() if v.user == self.id and v.type == "home"),
            None,
        )

    async def submit(
        self, view: View | None = None, values: dict[str, dict[str, Any]] | None = None
    ) -> SubmitResult:
        """Submit a modal (the top one by default) with ``{block_id: {action_id: value}}``.

        The app's ``response_action`` is applied as Slack does: ``errors`` keeps the modal
        open with the messages, ``update``/``push`` change it, ``clear`` closes the stack,
        and an empty acknowledgement closes this modal.
        """
        state = self.server.state
        if view is None:
            if not self.open_views:
                raise AssertionError(f"{self.name} has no modal open")
            view = self.open_views[-1]
        if view.closed or view.user != self.id:
            raise AssertionError(f"{self.name} cannot submit view {view.id}")
        started = state.clock.next()
        payload = self.server.interactions.view_submission_payload(self.id, view, values or {})
        delivery = self.server.deliver(INTERACTIVE, payload, retries=False)
        await delivery.wait(ACK_WAIT)
        result = SubmitResult(self, delivery, None, None, started, view=view)
        if not delivery.acked:
            return result
        ack = delivery.ack_payload or {}
        action = ack.get("response_action")
        if action == "errors":
            view.errors = {str(k): str(v) for k, v in dict(ack.get("errors") or {}).items()}
        elif action == "update" and isinstance(ack.get("view"), dict):
            state.update_view(view, ack["view"], None)
        elif action == "push" and isinstance(ack.get("view"), dict):
            state.open_view(self.id, ack["view"], previous=view)
        elif action == "clear":
            state.close_stack(view)
        else:
            view.closed = True
        self.server.notify()
        return result

    async def close(self, view: View | None = None) -> None:
        """Press Cancel; the app hears ``view_closed`` only if the view asked (notify_on_close)."""
        view = view or (self.open_views[-1] if self.open_views else None)
        if view is None:
            raise AssertionError(f"{self.name} has no modal open")
        view.closed = True
        if view.view.get("notify_on_close"):
            payload = self.server.interactions.view_closed_payload(self.id, view)
            delivery = self.server.deliver(INTERACTIVE, payload, retries=False)
            await delivery.wait(ACK_WAIT)
        self.server.notify()

    # ---------------------------------------------------------------- reading

    def dms(self) -> list[Message]:
        """Messages in this person's DM with the bot, oldest first (replies included)."""
        chan = self.dm_channel()
        return sorted(self.server.state.messages[chan.id].values(), key=lambda m: float(m.ts))

    @property
    def ephemerals(self) -> list[Ephemeral]:
        return self.server.script.ephemerals(self)

    async def wait_dm(self, contains: str = "", timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        return await self.server.wait_until(
            lambda: next((m for m in self.dms() if contains in _text_of(m)), None),
            timeout=timeout,
            describe=lambda: (
                f"{self.name} got no DM containing {contains!r}; "
                f"got {[_text_of(m) for m in self.dms()]}"
            ),
        )


class Script:
    """The world as a test or the demo arranges and reads it."""

    def __init__(self, server: LocalSlackServer) -> None:
        self.server = server
        self.actors: dict[str, SlackActor] = {}

    def add_user(
        self,
        name: str,
        *,
        email: str | None = None,
        tz: str = "Europe/London",
        admin: bool = False,
        real_name: str = "",
    ) -> SlackActor:
        user = self.server.state.add_user(
            name, email=email, tz=tz, is_admin=admin, real_name=real_name
        )
        actor = SlackActor(self.server, user)
        self.actors[user.id] = actor
        return actor

    def build_cohort(self, **kwargs: Any) -> SlackCohort:
        """#general, private #staff and module channels with tutors and students (cohort.py)."""
        return build_cohort(self, **kwargs)

    def actor(self, user_id: str) -> SlackActor:
        return self.actors[user_id]

    def add_channel(
        self,
        name: str,
        *,
        private: bool = False,
        members: list[SlackActor] | None = None,
        bot: bool = True,
    ) -> Channel:
        """A channel someone made before the bot arrived; ``bot``: the bot was added to it."""
        state = self.server.state
        creator = members[0].id if members else state.bot.id
        chan = state.create_channel(name, creator=creator, private=private)
        for actor in members or []:
            if actor.id not in chan.members:
                chan.members.append(actor.id)
        if bot and state.bot.id not in chan.members:
            chan.members.append(state.bot.id)
        if not bot and state.bot.id in chan.members:
            chan.members.remove(state.bot.id)
        state.drain()
        return chan

    def bot_post(
        self,
        channel: ChannelRef,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Message:
        """A message from the bot placed without the app (a button to click, a prompt)."""
        state = self.server.state
        chan = state.channel(channel if isinstance(channel, str) else channel.id)
        msg = state.post(chan, state.bot.id, text, blocks=blocks, thread_ts=thread_ts)
        self.server.commit()
        return msg

    def channel(self, name: str) -> Channel:
        for chan in self.server.state.channels.values():
            if chan.name == name:
                return chan
        raise AssertionError(f"no channel named {name!r}")

    def messages(self, channel: ChannelRef, thread_ts: str | None = None) -> list[Message]:
        """Top-level messages (or one thread's, parent first), oldest first."""
        state = self.server.state
        chan = state.channel(channel if isinstance(channel, str) else channel.id)
        if thread_ts is not None:
            return state.thread(chan, thread_ts)
        return list(reversed(state.history(chan)))

    def ephemerals(self, person: SlackActor | str) -> list[Ephemeral]:
        user_id = person if isinstance(person, str) else person.id
        return [e for e in self.server.state.ephemerals if e.user == user_id and not e.deleted]

    async def wait_for(
        self,
        check: Callable[[], T | None],
        *,
        what: str = "condition",
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> T:
        return await self.server.wait_until(
            check, timeout=timeout, describe=lambda: f"timed out waiting for {what}"
        )

    async def wait_for_message(
        self,
        channel: ChannelRef,
        *,
        contains: str = "",
        thread_ts: str | None = None,
        by_bot: bool = True,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        bot = self.server.bot_user_id

        def check() -> Message | None:
            for m in self.messages(channel, thread_ts):
                if (not by_bot or m.user == bot) and contains in _text_of(m):
                    return m
            return None

        return await self.server.wait_until(
            check,
            timeout=timeout,
            describe=lambda: (
                f"no message containing {contains!r}; got "
                f"{[_text_of(m) for m in self.messages(channel, thread_ts)]}"
            ),
        )

    async def wait_acked(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until every delivery so far is acknowledged or given up."""
        await self.server.wait_until(
            lambda: all(d.done.is_set() for d in self.server.deliveries),
            timeout=timeout,
            describe=lambda: (
                "deliveries still unacknowledged: "
                f"{[d.type for d in self.server.deliveries if not d.done.is_set()]}"
            ),
        )

    def now_ts(self) -> str:
        return f"{time.time():.6f}"
